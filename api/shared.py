"""What the two HTTP entry points (the JSON API and the web pages) share: the service behind a request,
file-download headers, and whether the browser speaks HTTPS. Neither entry point imports the other.
"""

from __future__ import annotations

import os
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response

from api.service import KaoheApp

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF = "application/pdf"


async def get_service(request: Request) -> KaoheApp:
    """The application service, built once at start-up (see api.asgi's lifespan). Async: FastAPI runs a
    plain `def` dependency in its thread pool, a hop per request for reading an attribute."""
    return request.app.state.kaohe


Service = Annotated[KaoheApp, Depends(get_service)]


def attachment(filename: str) -> str:
    """A Content-Disposition that keeps a Chinese file name (RFC 6266 filename*)."""
    return f"attachment; filename=\"{filename.encode('ascii', 'replace').decode()}\"; filename*=UTF-8''{quote(filename)}"


def behind_https() -> bool:
    """Told that a TLS-terminating proxy serves kaohe (`kaohe serve --behind-https`, KAOHE_BEHIND_HTTPS=1)."""
    return os.environ.get("KAOHE_BEHIND_HTTPS", "").strip().lower() in ("1", "true", "yes", "on")


def served_over_https(scope: dict[str, Any]) -> bool:
    """The browser speaks HTTPS to us: TLS here, a trusted proxy's X-Forwarded-Proto (uvicorn applies it
    to `scheme` for --forwarded-allow-ips), or the setting says so."""
    return scope.get("scheme") in ("https", "wss") or behind_https()


def file_response(file: dict) -> Response:
    """An uploaded 证明材料 as a download: its own type, its Chinese name kept, never run by the browser."""
    return Response(file["data"], media_type=file["media_type"], headers={
        "Content-Disposition": attachment(file["filename"]),
        "X-Content-Type-Options": "nosniff",  # the type was judged by content at upload; no second guess
        "Content-Security-Policy": "sandbox",  # opened in a tab anyway: no script, no same-origin access
        "Cache-Control": "private, max-age=3600",
    })
