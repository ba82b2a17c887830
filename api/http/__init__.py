"""The JSON API entry point: routers per resource (`routes/`), typed models, dependencies, one error handler."""

from api.http.group_commit import GroupCommit
from api.http.routes import router

__all__ = ["GroupCommit", "router"]
