"""Signing in and out (server-side sessions, see api.service.sessions), the home redirect, and the static files."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from api.service import sessions
from api.shared import Service, served_over_https
from api.web.frame import COOKIE, STATIC, Form, current_year, error_page, guarded, landing, render, signed_in, text
from domain.errors import DomainError

router = APIRouter(include_in_schema=False)


# --- static files -----------------------------------------------------------------------

@router.get("/static/{name}")
def static(name: str) -> Response:
    path = STATIC / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return Response("not found", status_code=404)
    return FileResponse(path, headers={"Cache-Control": "max-age=3600"})


# --- sign-in ----------------------------------------------------------------------------

@router.get("/", response_class=HTMLResponse)
def signin_page(request: Request, service: Service) -> Response:
    actor = sessions.actor_for(service.views, request.cookies.get(COOKIE))
    if actor is not None:
        return RedirectResponse("/web", status_code=303)
    return render(request, "signin.html", None, None, {"next": request.query_params.get("next", "")})


@router.post("/signin")
def signin(request: Request, service: Service, form: Form) -> Response:
    token = text(form, "token")
    nxt = text(form, "next")
    limiter = request.app.state.auth_failures
    client = request.client.host if request.client else None
    wait = limiter.retry_after(client)
    if wait is not None:
        state = {"values": {}, "errors": {"token": f"登录失败次数过多，请 {wait} 秒后再试"}, "general": None}
        response = render(request, "signin.html", None, None, {"next": nxt}, status=429, forms={"signin": state})
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        started = sessions.start(service.views, token) if token else None
    except DomainError as e:  # the database refuses the session's row: a 503 page
        return error_page(request, e)
    if started is None:
        if token:
            limiter.failed(client, "/signin")
        message = "请输入访问令牌" if not token else "访问令牌无效，请检查后重试"
        # The token typed is not sent back: a page must never carry a secret, right or wrong.
        state = {"values": {}, "errors": {"token": message}, "general": None}
        return render(request, "signin.html", None, None, {"next": nxt}, status=401, forms={"signin": state})
    session_id, _ = started
    target = nxt if nxt.startswith("/web") else "/web"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, session_id, httponly=True, samesite="strict", path="/",
                        secure=served_over_https(request.scope))
    return response


@router.post("/signout")
def signout(request: Request, service: Service, form: Form) -> Response:
    sessions.end(service.views, request.cookies.get(COOKIE))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=served_over_https(request.scope))
    return response


@router.get("/web")
@guarded
def home(request: Request, service: Service) -> Response:
    actor = signed_in(request, service)
    year = current_year(service, actor)
    if year is None:
        if actor.role == "admin":
            return RedirectResponse("/web/years", status_code=303)
        return render(request, "no_year.html", actor, None, {})
    return RedirectResponse(landing(actor, year), status_code=303)


