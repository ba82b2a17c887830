"""Security headers on every answer (pages, API, errors, static files): a Content-Security-Policy
without inline script, no framing, no sniffing, a same-origin Referer, and no caching by default.

A pure ASGI middleware, outermost in api.asgi, so it also covers the answers other middleware
sends (413s, remembered scores). `Cache-Control: no-store` goes on every answer that did not
set its own (static files do): findings, scores and audit logs must not stay in a shared cache
or the browser's. /docs and /redoc (Swagger UI, ReDoc) get a policy of their own: each answer a
fresh nonce, added to its own <script> tags here, so an inline init script would also run.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, Awaitable, Callable

from api.shared import served_over_https

# Pages and API answers: scripts and styles only from our own /static, nothing inline.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
# /docs and /redoc (api/http/docs.py: assets served from here, init in a static file): scripts only
# from here or carrying this answer's nonce; inline styles allowed (ReDoc's styled-components
# inject <style> elements), images and workers from data:/blob: (Swagger's icons, ReDoc's worker).
DOCS_CSP = ("default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
SCRIPT_TAG = re.compile(rb"<script(?=[\s>])", re.I)

COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),  # our own forms still send a Referer (the CSRF check reads it)
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000")


class SecurityHeaders:
    def __init__(self, app: Callable[..., Awaitable[None]]):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = served_over_https(scope)
        nonce = secrets.token_urlsafe(16) if scope["path"] in DOCS_PATHS else None
        policy = (DOCS_CSP.format(nonce=nonce) if nonce else CSP).encode()
        start: dict[str, Any] | None = None
        held: list[bytes] = []

        def headed(message: dict[str, Any]) -> dict[str, Any]:
            dropped = {b"content-security-policy"} | ({b"content-length"} if nonce else set())
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in dropped]
            names = {k.lower() for k, _ in headers}
            headers += [h for h in COMMON if h[0] not in names]
            headers.append((b"content-security-policy", policy))
            if b"cache-control" not in names:
                headers.append((b"cache-control", b"no-store"))
            if https:
                headers.append(HSTS)
            return {**message, "headers": headers}

        async def sending(message: dict[str, Any]) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if nonce is None:
                    await send(headed(message))
                else:
                    start = message  # the body gets its nonces first; its length changes
                return
            if message["type"] == "http.response.body" and start is not None:
                held.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = SCRIPT_TAG.sub(b'<script nonce="' + nonce.encode() + b'"', b"".join(held))
                out = headed(start)
                out["headers"].append((b"content-length", str(len(body)).encode()))
                await send(out)
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, sending)
