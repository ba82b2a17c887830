"""Answers `GET /api/years/{y}/scores` and `GET /api/years/{y}/districts/{d}/score` from the remembered
JSON, before FastAPI's routing.

The ranking and the breakdowns are the busiest reads at year end and their answers only change
when the store moves on (see `ScoreReads.remembered`). This pure ASGI middleware asks the same
tokens (those found in the last RECHECK seconds: no database query on the event loop) and role
table as the routes and sends the remembered bytes. An answer not remembered yet is made here too, in a
thread, by the route's own function (`breakdown_json`, `ranking_bytes`): a read after each write would
otherwise pay FastAPI's routing and dependencies each time, most of the event loop's share of a read.
A read that names a position (`Kaohe-Read-After`, what a client sends right after its write) is answered
here too, once the views show it: at once when they already do, else in a thread that waits for it as the
route would (routing and the token's own thread hop were most of such a read's time).
Anything else (no token, a token not found lately, another role, a query string, a `Kaohe-Read-After` that
is not a number, a refusal or a 404) goes on to FastAPI unchanged, which answers it,
errors included, the usual way; any other failure is the server's error, raised once.
"""

from __future__ import annotations

import re
from typing import Any, Awaitable, Callable

from starlette.concurrency import run_in_threadpool

from api.http.deps import remembered_actor_for_authorization
from api.http.routes.scores import breakdown_json, ranking_bytes
from api.service.own_writes import reading_for
from domain.actors import Actor, can, can_read_district
from domain.errors import DomainError

SCORES = re.compile(r"/api/years/([0-9]{4})/scores")  # ASCII digits, as the route's int parameter takes
BREAKDOWN = re.compile(r"/api/years/([0-9]{4})/districts/([^/]+)/score")
POSITION = re.compile(rb"[0-9]{1,18}")  # what the route's Kaohe-Read-After takes (an int >= 0); else the route's 422
JSON = [(b"content-type", b"application/json")]


class RememberedScores:
    def __init__(self, app: Callable[..., Awaitable[None]]):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        found = self._answer(scope) if scope["type"] == "http" and scope["method"] == "GET" \
            and not scope.get("query_string") else None
        if found is not None:
            params, body = found
            if callable(body):
                try:
                    body = await run_in_threadpool(body)
                except DomainError:  # refused, not found …: the route answers it again, errors the usual way
                    body = None
            if body is not None:
                # For /metrics, the route's template (api.http.operations.route_template), as if routed.
                scope["route"], scope["path_params"] = self, params
                await send({"type": "http.response.start", "status": 200,
                            "headers": [*JSON, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _answer(self, scope: dict[str, Any]) -> tuple[dict[str, str], bytes | Callable[[], bytes]] | None:
        """(the path's parameters, the remembered bytes or how to make them), or None: FastAPI answers."""
        after = None
        for key, value in scope["headers"]:
            if key == b"kaohe-read-after":
                if after is not None or not POSITION.fullmatch(value.strip()):
                    return None  # twice, or not a position: the route answers (422 naming the header)
                after = int(value)
        match = SCORES.fullmatch(scope["path"])
        if match:
            year = int(match[1])
            answer = self._remembered(scope, year, after, "scores.json", lambda actor: can(actor, "read_ranking"),
                                      lambda service, actor: lambda: ranking_bytes(service, actor, year, after))
            return None if answer is None else ({"year": match[1]}, answer)
        match = BREAKDOWN.fullmatch(scope["path"])
        if match:
            district, year = match[2], int(match[1])
            answer = self._remembered(
                scope, year, after, f"score/{district}", lambda actor: can_read_district(actor, district),
                lambda service, actor: lambda: breakdown_json(service, actor, year, district, after))
            return None if answer is None else ({"year": match[1], "district": district}, answer)
        return None

    @staticmethod
    def _remembered(scope: dict[str, Any], year: int, after: int | None, name: str, may: Callable[[Actor], bool],
                    make: Callable[[Any, Actor], Callable[[], bytes]]) -> bytes | Callable[[], bytes] | None:
        service = getattr(scope["app"].state, "kaohe", None)
        limiter = getattr(scope["app"].state, "auth_failures", None)
        if service is None or limiter is None:
            return None
        if limiter.retry_after(scope["client"][0] if scope.get("client") else None) is not None:
            return None  # blocked: FastAPI answers 429
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), b"").decode("latin-1")
        # Only a token found a moment ago: asking the database would block the event loop (FastAPI asks it
        # in a thread, and remembers the token for the next request).
        actor = remembered_actor_for_authorization(service, authorization)
        if actor is None or not may(actor):
            return None
        remembered = service.remembered_now(name, year, wait=False, caller=actor)  # never block the event loop
        if remembered is not None and (after is None or (service.catchup.caught_up_to or 0) >= after):
            return remembered
        make_it = make(service, actor)
        return lambda: reading_for(actor, make_it)  # in a thread: the read waits for this caller's own writes
