"""The HTTP ceiling ops/bench_pg.py measures: an ASGI app with no framework and no store, under uvicorn."""


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})
