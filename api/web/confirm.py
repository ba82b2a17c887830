"""The confirmation step (确认) every irreversible action on the pages takes: a page that says what the action
will do, then posts the same form again with `confirmed=1`. Server-side, so it works without script."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from api.web.frame import render
from domain.actors import Actor

CONFIRMED = "confirmed"


def confirmed(form: FormData) -> bool:
    return form.get(CONFIRMED) == "1"


def confirmation(request: Request, actor: Actor, year: int | None, *, title: str, consequences: list[str],
                 action: str, form: FormData, back: str, button: str) -> Response:
    """The step page: what will happen, the form's own fields carried over (its idempotency key too)."""
    carried: list[tuple[str, Any]] = [(k, v) for k, v in form.multi_items() if k != CONFIRMED and isinstance(v, str)]
    return render(request, "confirm.html", actor, year, {
        "title": title, "consequences": consequences, "action": action, "carried": carried, "back": back,
        "button": button})
