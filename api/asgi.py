"""The one ASGI application kaohe serves: the JSON API under /api and the web pages, over one service.

Built by `create_app` (uvicorn's factory): the service, its views and its projection runner
are made once in the lifespan, from the environment, unless a test hands its own. Around it:
security headers on every answer, request bodies bounded and without duplicate JSON keys,
failed authentication limited per client (docs/security.md).
"""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import http, web
from api.auth_limit import AuthFailures
from api.http import operations
from api.http.docs import router as docs_router
from api.http.errors import domain_error, http_error, validation_error
from api.http.operations import RequestTiming
from api.http.score_cache import RememberedScores
from api.request_limits import RequestBodyGuard
from api.security_headers import SecurityHeaders
from api.service import KaoheApp, sessions, tokens
from api.web.frame import page_not_found
from domain.errors import DomainError


def is_page(request: Request) -> bool:
    """An address of the web pages (people's browsers), not of the JSON API."""
    return request.url.path == "/web" or request.url.path.startswith("/web/")


async def http_errors(request: Request, exc: Exception) -> Response:
    """Unknown /web addresses (and ones whose year is not a number) get the 404 page; the API its JSON."""
    if is_page(request) and (isinstance(exc, RequestValidationError) or getattr(exc, "status_code", None) == 404):
        return page_not_found(request)
    if isinstance(exc, RequestValidationError):
        return await validation_error(request, exc)
    return await http_error(request, exc)


def create_app(app: KaoheApp | None = None) -> FastAPI:
    """The FastAPI application over `app`, or over a `KaoheApp` built from the environment at start-up."""

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        service = app if app is not None else KaoheApp.from_url()
        tokens.init(service.views)
        sessions.init(service.views)
        api.state.kaohe = service
        api.state.group_commit = http.GroupCommit(service)
        # Everything built at start-up (rubric, routes, caches) lives as long as the process:
        # keep it out of the cyclic collector's way, so its pauses stay short under load.
        gc.freeze()
        try:
            yield
        finally:
            if app is None:  # a given app belongs to its caller
                service.close()

    # /docs and /redoc are served from assets installed with the project (api/http/docs.py), not a CDN.
    api = FastAPI(title="kaohe 实绩考核", version="0.2.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Event-sourced audit-trail scoring for the annual assessment of district trade unions.")
    api.state.auth_failures = AuthFailures()
    api.add_middleware(RememberedScores)
    api.add_middleware(RequestTiming)
    api.add_middleware(RequestBodyGuard)
    api.add_middleware(SecurityHeaders)  # outermost: every answer, whoever sends it, gets the headers
    api.add_exception_handler(DomainError, domain_error)
    api.add_exception_handler(web.CsrfRefused, web.csrf_refused)
    api.add_exception_handler(RequestValidationError, http_errors)
    api.add_exception_handler(StarletteHTTPException, http_errors)

    api.include_router(operations.router)
    api.include_router(http.router)
    api.include_router(docs_router)
    api.include_router(web.router)
    return api
