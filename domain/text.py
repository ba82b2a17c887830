"""Checks on the text people type: no control characters, valid Unicode, names usable in a URL.

Free text ends up in hash-chained events, PostgreSQL TEXT columns, CSV and Excel cells; a NUL
byte or a lone surrogate must be refused at the door (422), not discovered by a view later.
"""

from __future__ import annotations

import re
from typing import Any

from domain.errors import InvalidInput

# C0 controls except tab, line feed and carriage return; DEL; C1 controls.
FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
LARGEST = 10**15  # far beyond any count, year or rate, still exact in every store


def check_input(value: Any, field: str) -> None:
    """Refuse control characters, unpaired surrogates and absurdly large numbers anywhere in `value`."""
    if isinstance(value, str):
        if FORBIDDEN.search(value):
            raise InvalidInput(f"{field} 含有控制字符 (contains a control character)", field=field)
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
        for key, item in value.items():
            check_input(key, f"{field}.{key}" if isinstance(key, str) else field)
            check_input(item, f"{field}.{key}")
    elif isinstance(value, (list, tuple)):
        for item in value:
            check_input(item, field)


def check_name(value: str, field: str) -> str:
    """A name that is also a path segment (district): no slash, no control character, not blank."""
    name = str(value).strip()
    if not name:
        raise InvalidInput(f"{field} 不能为空 (must not be blank)", field=field)
    check_input(name, field)
    if "/" in name or "\\" in name or name in (".", ".."):
        raise InvalidInput(f"{field} 不能包含斜杠 (must not contain a slash): {name!r}", field=field)
    return name
