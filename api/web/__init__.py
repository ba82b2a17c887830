"""The web pages entry point (网页): server-rendered pages by audience, over the same service as the JSON API."""

from fastapi import APIRouter

from api.web import admin, assessment, districts, documents, office, signin

router = APIRouter(include_in_schema=False)
for module in (signin, office, assessment, districts, documents, admin):
    router.include_router(module.router)
