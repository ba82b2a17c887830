"""What the assessment-cycle tests share: a settable clock, uploads over HTTP, sample files, opening a year."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from domain import chained

SHANGHAI = ZoneInfo("Asia/Shanghai")
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(56)
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"


class Clock:
    """The time every event is stamped with and every window is checked against (domain.chained.utcnow)."""

    def __init__(self, monkeypatch):
        self.now = datetime.now(timezone.utc)
        monkeypatch.setattr(chained, "utcnow", lambda: self.now)

    def set(self, text: str) -> None:
        """An instant as ISO text; without a zone it is Asia/Shanghai wall-clock time."""
        instant = datetime.fromisoformat(text)
        self.now = (instant if instant.tzinfo else instant.replace(tzinfo=SHANGHAI)).astimezone(timezone.utc)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    return Clock(monkeypatch)


def upload(api, who: str, district: str, data: bytes, name: str = "工作方案.pdf", year: int = 2018,
           key: str | None = None):
    headers = api.headers(who, key)
    return api.client.post(f"/api/years/{year}/districts/{district}/evidence", headers=headers,
                           files={"file": (name, data, "application/octet-stream")})


def library_deadline(day: date, n: int) -> date:
    """The n-th working day after `day`, counted straight from chinese_calendar (an independent reference)."""
    while n:
        day += timedelta(days=1)
        n -= chinese_calendar.is_workday(day)
    return day
