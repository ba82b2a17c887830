"""The one ASGI application kaohe serves: the JSON API under /api and the web pages, over one service.

Built by `create_app` (uvicorn's factory): the service, its views and its projection runner
are made once in the lifespan, from the environment, unless a test hands its own.
"""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import http, web
from api.http import operations
from api.http.errors import domain_error, http_error, validation_error
from api.http.operations import RequestTiming
from api.http.score_cache import RememberedScores
from api.service import KaoheApp, tokens
from domain.errors import DomainError


def create_app(app: KaoheApp | None = None) -> FastAPI:
    """The FastAPI application over `app`, or over a `KaoheApp` built from the environment at start-up."""

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        service = app if app is not None else KaoheApp.from_url()
        tokens.init(service.views)
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

    api = FastAPI(title="kaohe 实绩考核", version="0.2.0", lifespan=lifespan,
                  description="Event-sourced audit-trail scoring for the annual assessment of district trade unions.")
    api.add_middleware(RememberedScores)
    api.add_middleware(RequestTiming)
    api.add_exception_handler(DomainError, domain_error)
    api.add_exception_handler(RequestValidationError, validation_error)
    api.add_exception_handler(StarletteHTTPException, http_error)

    api.include_router(operations.router)
    api.include_router(http.router)
    api.include_router(web.router)
    return api
