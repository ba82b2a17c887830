"""CSRF protection for the pages' forms: every state-changing form post must come from our own
origin (Origin, else Referer) and, once signed in, carry the session's CSRF token.

The check runs where a page route reads its form (`frame.Form`), so no route can forget it;
a refusal answers a 403 page and records nothing. Sign-in has no session yet: the origin check
alone refuses a cross-origin sign-in (login CSRF). The token is `sessions.csrf_token` (an HMAC
of the session id); forms carry it through the `form_guard()` macro in templates/_forms.html.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request

from api.service import sessions
from api.shared import served_over_https
from domain.errors import Forbidden

FIELD = "_csrf"
NO_SESSION_PATHS = frozenset({"/signin"})


class CsrfRefused(Forbidden):
    code = "csrf"


def our_origins(request: Request) -> set[str]:
    """The origins our pages are served from: `KAOHE_PUBLIC_ORIGIN` (comma-separated) if set, else
    the Host the browser asked for, with https when served over HTTPS (directly or behind a proxy)."""
    configured = os.environ.get("KAOHE_PUBLIC_ORIGIN", "").strip()
    if configured:
        return {o.strip().rstrip("/").lower() for o in configured.split(",") if o.strip()}
    host = (request.headers.get("host") or "").lower()
    scheme = "https" if served_over_https(request.scope) else request.url.scheme
    return {f"{scheme}://{host}"}


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.rstrip("/").lower() in our_origins(request)
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}".lower() in our_origins(request)
    return False  # a browser sends one of the two with every form post; without either we cannot tell


def check(request: Request, form: FormData, session_id: str | None) -> None:
    """Refuse a form post from another origin, or one without this session's CSRF token."""
    if not same_origin(request):
        raise CsrfRefused("请求来源不是本站，已拒绝 (cross-origin form post refused)")
    if request.url.path in NO_SESSION_PATHS:
        return
    sent = form.get(FIELD)
    if not sessions.csrf_ok(session_id, sent if isinstance(sent, str) else None):
        if not session_id:
            return  # not signed in: the page route sends the visitor to sign in, nothing is done
        raise CsrfRefused("页面已过期或表单无效，请刷新页面后重试 (missing or wrong CSRF token)")
