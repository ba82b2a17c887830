"""Signing in and out, the home redirect, and the static files."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from api.service import tokens
from api.shared import Service
from api.web.frame import COOKIE, STATIC, Form, current_year, guarded, landing, render, signed_in, text

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
    actor = tokens.actor_for(service.views, request.cookies.get(COOKIE))
    if actor is not None:
        return RedirectResponse("/web", status_code=303)
    return render(request, "signin.html", None, None, {"next": request.query_params.get("next", "")})


@router.post("/signin")
def signin(request: Request, service: Service, form: Form) -> Response:
    token = text(form, "token")
    nxt = text(form, "next")
    actor = tokens.actor_for(service.views, token)
    if actor is None:
        message = "请输入访问令牌" if not token else "访问令牌无效，请检查后重试"
        state = {"values": {"token": token}, "errors": {"token": message}, "general": None}
        return render(request, "signin.html", None, None, {"next": nxt}, status=401, forms={"signin": state})
    target = nxt if nxt.startswith("/web") else "/web"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
    return response


@router.post("/signout")
def signout(request: Request) -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
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


