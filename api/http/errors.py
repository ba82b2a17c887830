"""One place that turns refusals into the error contract: `{"error": {"code", "message", "field"?, "details"?}}`.

Domain errors map to status codes here (not in routes); FastAPI's own validation and HTTP
errors are rewritten into the same body, so /openapi.json can document one error shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.http.models import ErrorBody
from domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    TooLarge,
    Unavailable,
    UnsupportedType,
)

# Most specific first: an upload's refusals are InvalidInput too (so a page shows them by the field).
ERROR_STATUS: dict[type[DomainError], int] = {TooLarge: 413, UnsupportedType: 415, InvalidInput: 422, NotFound: 404,
                                              Conflict: 409, Forbidden: 403, Unavailable: 503}
HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
              422: "invalid", 429: "too_many_requests", 503: "unavailable"}
DESCRIPTIONS = {401: "缺少或无效的访问令牌", 403: "角色或范围不允许", 404: "年度、单位或事项不存在",
                409: "与当前状态冲突（如年度已结束）", 413: "请求内容过大", 422: "输入无效，field 指明哪一项",
                429: "认证失败次数过多，请按 Retry-After 稍后再试", 503: "数据库暂时不能写入，什么也没有记录"}
# Every /api call documents these answers with the real error body (FastAPI's default 422 schema is replaced).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text} for status, text in DESCRIPTIONS.items()}


def error_body(code: str, message: str, field: str | None = None, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    if details is not None:
        error["details"] = details
    return {"error": error}


def status_of(exc: DomainError) -> int:
    return next((s for cls, s in ERROR_STATUS.items() if isinstance(exc, cls)), 400)


async def domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return JSONResponse(error_body(exc.code, exc.message, exc.field, exc.details), status_code=status_of(exc))


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [{"field": field_of(e), "message": e["msg"], "type": e["type"]} for e in exc.errors()]
    first = problems[0] if problems else {"field": None, "message": "invalid request"}
    message = f"请求参数无效 (invalid {first['field'] or 'request'}: {first['message']})"
    return JSONResponse(error_body("invalid", message, first["field"], problems), status_code=422)


def field_of(error: dict[str, Any]) -> str:
    """('body', 'measures', 'rate') → 'measures.rate'; ('body', 'findings', 3, 'clause') → 'findings[3].clause';
    the whole body when it is not JSON."""
    parts = list(error.get("loc", ()))
    if error.get("type") == "json_invalid" or parts == ["body"]:
        return "body"
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    field = ""
    for part in parts:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    return field


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(error_body(HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail)),
                        status_code=exc.status_code, headers=exc.headers)
