"""Request bodies at the door, before any route runs: at most so many bytes (413), and a JSON body
without duplicate keys (422). A pure ASGI middleware, added in api.asgi.

The limit is per path: the longest matching pattern of `limits()` wins, else the JSON default
(1 MiB, `KAOHE_BODY_MAX_BYTES`). An upload route with its own limit adds its (regex, bytes)
pair there. A body is read at most one byte past its limit, so a huge one costs nothing.
Python's json (like FastAPI) would keep the last of two equal keys silently; here it is refused.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Awaitable, Callable

from api.http.errors import error_body

DEFAULT_LIMIT = 1 << 20  # 1 MiB: far above any JSON command (a note is at most 2,000 characters)
BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "TRACE"})


def limits() -> dict[str, int]:
    """Path patterns (regular expressions matched from the start of the path) → most bytes a body may have."""
    from api.upload import UPLOAD_PATHS, body_limit

    uploads = {pattern: body_limit() for pattern in UPLOAD_PATHS}  # KAOHE_EVIDENCE_MAX_BYTES + framing
    return {"/": int(os.environ.get("KAOHE_BODY_MAX_BYTES") or DEFAULT_LIMIT), **uploads}


class DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKey(key)
        seen[key] = value
    return seen


class RequestBodyGuard:
    def __init__(self, app: Callable[..., Awaitable[None]], patterns: dict[str, int] | None = None):
        self.app = app
        chosen = patterns if patterns is not None else limits()
        # Longest pattern first: the most specific route wins over "/".
        self.limits = [(re.compile(p), n) for p, n in sorted(chosen.items(), key=lambda kv: -len(kv[0]))]

    def limit_for(self, path: str) -> int:
        return next((n for pattern, n in self.limits if pattern.match(path)), DEFAULT_LIMIT)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in BODYLESS:
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        headers = {k.lower(): v for k, v in scope["headers"]}
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _answer(send, 413, _too_large(limit))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _answer(send, 413, _too_large(limit))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        kind = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if body and (kind == b"application/json" or kind.endswith(b"+json")):
            try:
                json.loads(body, object_pairs_hook=_no_duplicates)
            except DuplicateKey as e:
                await _answer(send, 422, error_body(
                    "duplicate_key", f"JSON 中的键 {e.key!r} 重复 (duplicate key {e.key!r} in the JSON body)",
                    field=e.key))
                return
            except ValueError:
                pass  # not JSON at all: FastAPI answers that the usual way (422 naming the body)

        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _too_large(limit: int) -> dict[str, Any]:
    return error_body("too_large", f"请求内容过大，最多 {limit} 字节 (request body larger than {limit} bytes)",
                      field="body")


async def _answer(send: Any, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
