"""The web pages entry point (网页): server-rendered pages by audience, over the same service as the JSON API."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.web import admin, assess_bulk, assessment, cycle, districts, documents, office, office_bulk, signin, tokens
from api.web.csrf import CsrfRefused
from api.web.frame import error_page

router = APIRouter(include_in_schema=False)
for module in (signin, office, office_bulk, assessment, assess_bulk, districts, documents, cycle, admin, tokens):
    router.include_router(module.router)


async def csrf_refused(request: Request, exc: Exception) -> Response:
    """A form post refused by the CSRF check: a 403 page, nothing done."""
    assert isinstance(exc, CsrfRefused)
    return error_page(request, exc)


__all__ = ["CsrfRefused", "csrf_refused", "router"]
