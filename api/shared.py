"""What the two HTTP entry points (the JSON API and the web pages) share: the service behind a request,
and file-download headers. Neither entry point imports the other.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from api.service import KaoheApp

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF = "application/pdf"


def get_service(request: Request) -> KaoheApp:
    """The application service, built once at start-up (see api.asgi's lifespan)."""
    return request.app.state.kaohe


Service = Annotated[KaoheApp, Depends(get_service)]


def attachment(filename: str) -> str:
    """A Content-Disposition that keeps a Chinese file name (RFC 6266 filename*)."""
    return f"attachment; filename=\"{filename.encode('ascii', 'replace').decode()}\"; filename*=UTF-8''{quote(filename)}"
