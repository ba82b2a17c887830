"""Answers `GET /api/years/{y}/scores` from the remembered JSON, before FastAPI's routing.

The ranking is the busiest read at year end and its answer only changes when the store
moves on (see `ScoreReads.remembered`). This pure ASGI middleware asks the same token lookup and role table as the route and sends the remembered bytes; anything else (no token,
another role, a query string, nothing remembered yet) goes on to FastAPI unchanged, which
answers it, errors included, the usual way.
"""

from __future__ import annotations

import re
from typing import Any, Awaitable, Callable

from api.http.deps import actor_for_authorization
from domain.actors import can

SCORES = re.compile(r"/api/years/(\d{4})/scores")
JSON = [(b"content-type", b"application/json")]


class RememberedScores:
    def __init__(self, app: Callable[..., Awaitable[None]]):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("query_string"):
            match = SCORES.fullmatch(scope["path"])
            body = self._remembered(scope, int(match[1])) if match else None
            if body is not None:
                await send({"type": "http.response.start", "status": 200,
                            "headers": [*JSON, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _remembered(scope: dict[str, Any], year: int) -> bytes | None:
        service = getattr(scope["app"].state, "kaohe", None)
        limiter = getattr(scope["app"].state, "auth_failures", None)
        if service is None or limiter is None:
            return None
        if limiter.retry_after(scope["client"][0] if scope.get("client") else None) is not None:
            return None  # blocked: FastAPI answers 429
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), b"").decode("latin-1")
        actor = actor_for_authorization(service, authorization)
        if actor is None or not can(actor, "read_ranking"):
            return None
        return service.remembered_now("scores.json", year)
