"""Forms that save a table at once (one row per district, or per indicator): a batch call's refusal
(`submissions[2].submitted_on`) shown next to that row's own input, every refused row at once, values kept."""

from __future__ import annotations

import re
from typing import Any, Callable

from fastapi import Request
from fastapi.responses import Response

from api.web.frame import FIELD_LABELS, friendly
from domain.errors import Conflict, DomainError, Forbidden, InvalidInput

ROW = re.compile(r"^(\w+)\[(\d+)\](?:\.(.+))?$")


def table_state(e: DomainError, values: dict[str, Any], names: list[str],
                field_for: Callable[[str, str | None], str]) -> dict[str, Any]:
    """The form's state after a refused batch: each refused row's message at `field_for(row name, row field)`."""
    state: dict[str, Any] = {"values": values, "errors": {}, "general": None}
    rows = (e.details or {}).get("rows") if isinstance(e.details, dict) else None
    refused_rows = 0
    for item in rows or [{"field": e.field, "message": e.message}]:
        m = ROW.match(item.get("field") or "")
        message = friendly(item["message"], FIELD_LABELS)
        if m and int(m[2]) < len(names):
            state["errors"][field_for(names[int(m[2])], m[3])] = message
            refused_rows += 1
        elif item.get("field") and not m:
            state["errors"][item["field"]] = message  # about the table as a whole (nothing filled in)
        else:
            state["general"] = message
    if refused_rows and not state["general"]:
        state["general"] = f"有 {refused_rows} 行未通过检查，整张表都没有保存，请修改后再保存。"
    return state


def submit_table(request: Request, form_id: str, values: dict[str, Any], names: list[str],
                 field_for: Callable[[str, str | None], str], action: Callable[[], Any],
                 on_success: Callable[[Any], Response],
                 on_refusal: Callable[[dict[str, dict[str, Any]], int], Response]) -> Response:
    """Run one batch command; success → redirect; a refusal → the page again, each row's error beside it."""
    try:
        result = action()
    except (InvalidInput, Conflict, Forbidden) as e:
        if isinstance(e, Forbidden) and not (isinstance(e.details, dict) and e.details.get("rows")):
            raise
        status = {InvalidInput: 422, Conflict: 409, Forbidden: 403}[next(
            c for c in (InvalidInput, Conflict, Forbidden) if isinstance(e, c))]
        return on_refusal({form_id: table_state(e, values, names, field_for)}, status)
    return on_success(result)
