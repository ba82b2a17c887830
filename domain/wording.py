"""How facts are worded for people (pages, 通报, workbook): measures with their labels, never `key=value`.

Pure text helpers over the rubric's own labels; one place, so a page and a sheet say the same.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

UNIT_WORDS = {"%": "%", "count": ""}
END_PUNCTUATION = "。；;，,、 "


def _get(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def plain_number(value: Any) -> str:
    """A measured value as typed, without a float's tail or trailing zeros (80.50 → 80.5, 3.0000 → 3)."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not number.is_finite():
        return str(value)
    if number == number.to_integral_value():
        return f"{number.quantize(Decimal(1)):f}"
    return f"{number.normalize():f}"


def measures_text(measures: Mapping[str, Any] | None, definitions: Iterable[Any] | None) -> list[str]:
    """Each measure as "label：value" with its unit (企业建会率：90%), in the rubric's order; a key the
    rubric does not know keeps its key as the label (history may predate a rubric change)."""
    if not measures:
        return []
    defs = {str(_get(m, "key")): m for m in (definitions or [])}
    order = [k for k in defs if k in measures] + [k for k in measures if k not in defs]
    lines = []
    for key in order:
        m = defs.get(key)
        label = str(_get(m, "label")) if m is not None else key
        unit = UNIT_WORDS.get(str(_get(m, "unit")), "") if m is not None else ""
        lines.append(f"{label}：{plain_number(measures[key])}{unit}")
    return lines


def finding_facts(finding: Mapping[str, Any], definitions: Iterable[Any] | None = None) -> str:
    """A finding's facts in one phrase: its date, its note, its measures (labelled) and where it came from."""
    parts = []
    if finding.get("occurred_on"):
        parts.append(str(finding["occurred_on"]))
    if finding.get("note"):
        parts.append(str(finding["note"]))
    parts += measures_text(finding.get("measures"), definitions)
    return join(parts)


def join(parts: Iterable[Any], separator: str = "；") -> str:
    """Phrases joined once: a phrase's own closing 。 or ； is dropped, so no "。；" appears."""
    cleaned = [str(p).strip().rstrip(END_PUNCTUATION) for p in parts if p is not None and str(p).strip()]
    return separator.join(p for p in cleaned if p)


def chinese_date(value: Any) -> str:
    """2019-01-20 → 2019年1月20日 (as dates are written on a 通报); other text unchanged."""
    try:
        day = date.fromisoformat(str(value))
    except ValueError:
        return str(value or "")
    return f"{day.year}年{day.month}月{day.day}日"


_MAX_FORMULA = re.compile(r"得分\s*=\s*max\(\s*0\s*,\s*([^−\-)]+?)\s*[−-]\s*([^)]+?)\s*\)")


def readable(note: Any) -> str:
    """A rubric note as a person reads it: the scoring model's `得分 = max(0, A − B)` said in words
    (the rubric file keeps its text: a year pins that file by its content hash)."""
    return _MAX_FORMULA.sub(lambda m: f"得分为{m.group(1)}减去{m.group(2)}，最低为0分", str(note or ""))
