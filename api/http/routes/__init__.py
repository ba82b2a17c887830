"""The JSON API's routes, one module per resource; each route parses, calls the service once, answers."""

from fastapi import APIRouter

from api.http.errors import ERROR_RESPONSES
from api.http.routes import bulk, cycle, documents, findings, log, office, scores, tokens, years

router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)
for module in (years, findings, office, scores, documents, tokens, bulk, cycle, log):
    router.include_router(module.router)
