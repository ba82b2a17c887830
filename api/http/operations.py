"""What operators read: `/health` (each projection's position against the store's head) and `/metrics`
(Prometheus), and the middleware that times every request by its route."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from api.http.models import Health
from api.service.metrics import MAX_LAG, projection_state
from api.shared import Service

router = APIRouter(tags=["operations"])
# /health says degraded for this long after a write the database refused (unless one succeeded since).
WRITE_FAILURE_WINDOW = 60.0  # seconds


@router.get("/health", response_model=Health, responses={503: {"model": Health, "description": "degraded"}})
def health(service: Service) -> Any:
    """`ok`, or `degraded` (503) when the views cannot be written or lag more than KAOHE_HEALTH_MAX_LAG events,
    or the database refused a write in the last minute (reads still answer; writes answer 503)."""
    state = projection_state(service)
    runner = service.runner
    reasons = []
    if runner is not None and runner.error:
        reasons.append(f"视图无法更新 (the views cannot be caught up: {runner.error})")
    failure = service.write_failure
    if failure is not None and time.monotonic() - failure[0] < WRITE_FAILURE_WINDOW:
        reasons.append(f"数据库拒绝写入 (the database refused a write: {failure[1]})")
    if state["lag_events"] > MAX_LAG:
        reasons.append(f"视图落后 {state['lag_events']} 个事件 (views lag {state['lag_events']} events)")
    if reasons:
        return JSONResponse({"status": "degraded", "reasons": reasons, **state}, status_code=503)
    return {"status": "ok", **state}


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(service: Service) -> Response:
    return Response(service.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


class RequestTiming:
    """Pure ASGI middleware: how long each request took, labelled by route template (not by raw path)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            service = getattr(scope["app"].state, "kaohe", None) if "app" in scope else None
            if service is not None and service.metrics is not None:
                service.metrics.requests.labels(scope["method"], route_template(scope), str(status[0])).observe(
                    time.perf_counter() - started)


def route_template(scope: dict[str, Any]) -> str:
    """/api/years/2018/districts/中山区/score → /api/years/{year}/districts/{district}/score (bounded labels)."""
    if "route" not in scope:
        return "unmatched"
    names = {str(value): name for name, value in (scope.get("path_params") or {}).items()}
    return "/".join(f"{{{names[part]}}}" if part in names else part for part in scope["path"].split("/"))
