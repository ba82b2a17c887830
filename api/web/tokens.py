"""The admin's token page (访问令牌): who holds which token (never the token itself), making one, revoking one.

A new token is shown once, on the page that answers its creation, and never again: only its hash
is stored. Revoking asks for a confirmation on the form, since it cannot be undone.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.service import KaoheApp, tokens
from api.shared import Service
from api.web.frame import Form, done, guarded, render, signed_in, submit, text
from domain.actors import ROLE_LABELS, ROLES, Actor, require
from domain.errors import InvalidInput

router = APIRouter(include_in_schema=False)
STATUS_LABELS = {"active": "有效", "revoked": "已撤销", "expired": "已过期"}
ACTION_LABELS = {"created": "创建", "revoked": "撤销"}


def tokens_page(request: Request, service: KaoheApp, actor: Actor, status: int = 200, forms: dict | None = None,
                made: dict | None = None) -> Response:
    listed = tokens.list_tokens(service.views, actor)  # refuses anyone but admin
    return render(request, "tokens.html", actor, None, {
        **listed, "roles": [(r, ROLE_LABELS[r]) for r in ROLES], "role_labels": ROLE_LABELS,
        "status_labels": STATUS_LABELS, "action_labels": ACTION_LABELS, "made": made}, status, forms)


@router.get("/web/tokens")
@guarded
def token_list(request: Request, service: Service) -> Response:
    return tokens_page(request, service, signed_in(request, service))


@router.post("/web/tokens")
@guarded
def make_token(request: Request, service: Service, form: Form) -> Response:
    actor = signed_in(request, service)
    require(actor, "manage_tokens")
    values = {k: text(form, k) for k in ("name", "role", "department", "district", "expires")}

    def action() -> dict:
        role = values["role"]
        department = values["department"] if role == "department" else None
        district = values["district"] if role == "district" else None
        tokens.check_scope(service, department=department, district=district)
        expires_at = tokens.parse_expiry(values["expires"] or None)
        secret = tokens.create_token(service.views, values["name"], role, department=department, district=district,
                                     expires_at=expires_at, created_by=actor.name)
        return {"name": values["name"], "role": role, "token": secret}

    # The new token is shown on this answer only (no redirect: it must not travel in a URL).
    return submit(request, "make", tuple(values), values, action,
                  lambda made: tokens_page(request, service, actor, 201, made=made),
                  lambda forms, status: tokens_page(request, service, actor, status, forms),
                  labels={"name": "名称", "role": "角色", "department": "责任部门", "district": "单位",
                          "expires": "有效期"})


@router.post("/web/tokens/{name}/revoke")
@guarded
def revoke(request: Request, service: Service, form: Form, name: str) -> Response:
    actor = signed_in(request, service)
    values = {"confirm": text(form, "confirm")}

    def action() -> dict:
        if values["confirm"] != "yes":
            raise InvalidInput("请勾选确认：撤销后该令牌立即失效，且不能恢复 (tick the confirmation)", field="confirm")
        return tokens.revoke_token(service.views, name, actor)

    return submit(request, f"revoke-{name}", ("confirm",), values, action,
                  lambda r: done("/web/tokens", "token_revoked"),
                  lambda forms, status: tokens_page(request, service, actor, status, forms))
