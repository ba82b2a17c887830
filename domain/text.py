"""Checks on the text people type: no control or bidi characters, valid Unicode, bounded lengths,
names usable in a URL, dates only as YYYY-MM-DD.

Free text ends up in hash-chained events, PostgreSQL TEXT columns, CSV and Excel cells; a NUL
byte, a lone surrogate, a right-to-left override or a 100 MB note must be refused at the door
(422 naming the field), not discovered in the immutable history later.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from domain.errors import InvalidInput

# C0 controls except tab, line feed and carriage return; DEL; C1 controls.
FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Bidirectional controls (Trojan Source, CVE-2021-42574): embeddings/overrides, isolates, marks.
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
LARGEST = 10**15  # far beyond any count, year or rate, still exact in every store

# Longest text per field (the last part of a dotted field name: `findings.note` → `note`).
TEXT_LIMITS = {"note": 2000, "statement": 2000, "reason": 2000, "title": 200, "reference": 200,
               "name": 100, "district": 100, "districts": 100, "absent": 100, "excused": 100,
               "department": 100, "evidence": 500}
TEXT_LIMIT = 2000  # any other text
# Most entries per list field.
LIST_LIMITS = {"evidence": 50, "districts": 1000, "absent": 1000, "excused": 1000}
LIST_LIMIT = 10_000  # any other list (a request body is at most 1 MiB anyway)

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?")


def _leaf(field: str) -> str:
    return field.rsplit(".", 1)[-1].split("[", 1)[0]


def check_input(value: Any, field: str) -> None:
    """Refuse control and bidi characters, unpaired surrogates, over-long text or lists and absurdly
    large numbers anywhere in `value`."""
    if isinstance(value, str):
        if FORBIDDEN.search(value):
            raise InvalidInput(f"{field} 含有控制字符 (contains a control character)", field=field)
        if BIDI.search(value):
            raise InvalidInput(f"{field} 含有双向控制字符 (contains a bidirectional control character)",
                               field=field)
        limit = TEXT_LIMITS.get(_leaf(field), TEXT_LIMIT)
        if len(value) > limit:
            raise InvalidInput(f"{field} 过长，最多 {limit} 个字符 (longer than {limit} characters)", field=field)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"{field} 不是有效的文字 (not valid Unicode text)", field=field) from None
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if abs(value) > LARGEST:
            raise InvalidInput(f"{field} 数值过大 (number too large)", field=field)
    elif isinstance(value, dict):
        if len(value) > LIST_LIMIT:
            raise InvalidInput(f"{field} 项目过多 (too many entries)", field=field)
        for key, item in value.items():
            check_input(key, f"{field}.{key}" if isinstance(key, str) else field)
            check_input(item, f"{field}.{key}")
    elif isinstance(value, (list, tuple)):
        limit = LIST_LIMITS.get(_leaf(field), LIST_LIMIT)
        if len(value) > limit:
            raise InvalidInput(f"{field} 最多 {limit} 项 (more than {limit} entries)", field=field)
        for item in value:
            check_input(item, field)


def check_name(value: str, field: str) -> str:
    """A name that is also a path segment (district): no slash, no control character, not blank."""
    name = str(value).strip()
    if not name:
        raise InvalidInput(f"{field} 不能为空 (must not be blank)", field=field)
    check_input(name, field)
    if len(name) > TEXT_LIMITS["name"]:
        raise InvalidInput(f"{field} 过长，最多 {TEXT_LIMITS['name']} 个字符 (name too long)", field=field)
    if "/" in name or "\\" in name or name in (".", ".."):
        raise InvalidInput(f"{field} 不能包含斜杠 (must not contain a slash): {name!r}", field=field)
    return name


def iso_date(value: Any, field: str) -> date:
    """A calendar date written exactly YYYY-MM-DD (not 20180301, not 2018-W09-4)."""
    text = str(value)
    try:
        if not DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{field} 日期格式错误，应为 YYYY-MM-DD (malformed date: {text!r})", field=field) from None


def iso_datetime(value: Any, field: str) -> datetime:
    """A date and time written as YYYY-MM-DDTHH:MM[:SS[.ffffff]][Z|±HH:MM]."""
    text = str(value)
    try:
        if not DATETIME.fullmatch(text):
            raise ValueError(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{field} 格式错误，应为日期或日期时间 (malformed {field}: {text!r})", field=field) from None
