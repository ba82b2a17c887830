"""Official PRC working days (法定工作日): holidays and adjusted working days from `chinesecalendar`.

Dispute windows and 公示 are counted in these days, on Asia/Shanghai dates.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

from domain.errors import Conflict

# The State Council publishes each year's arrangement in the previous November or December; the
# library ships those notices, so a hand-kept table here would only go stale or disagree with it.
SHANGHAI = ZoneInfo("Asia/Shanghai")


class CalendarUnknown(Conflict, ValueError):
    """The official calendar for a year is not known (not yet published or older than the data).

    A domain error (409 `calendar_unknown`): a command that needs the count (a 公示's end) is
    refused; reads and the dispute window convert it where they use it (see domain.cycle).
    """

    code = "calendar_unknown"

    def __init__(self, year: int):
        super().__init__(f"{year} 年的法定节假日安排未知，无法计算工作日 (official calendar for {year} is unknown)")
        self.year = year


def is_working_day(day: date) -> bool:
    """True when `day` is an official working day (a weekday that is no holiday, or an adjusted 调休 day)."""
    if isinstance(day, datetime):  # a datetime is a date too; the caller must convert the zone first
        day = day.date()
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        # The library refuses years it has no notice for; guessing "Mon–Fri" there would silently
        # shorten or lengthen a legal window, so the caller must see it.
        raise CalendarUnknown(day.year) from None


@lru_cache(maxsize=4096)  # a breakdown asks this for every finding, most recorded on a few hundred days
def add_working_days(day: date, n: int) -> date:
    """The n-th working day after `day` (`day` itself never counts); `day` itself when n == 0."""
    if n < 0:
        raise ValueError("n must not be negative")
    current = day
    remaining = n
    while remaining:
        current += timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end`; 0 when `end` is not after `start`."""
    if end <= start:
        return 0
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current):
            count += 1
    return count


def shanghai_date(instant: datetime) -> date:
    """The Asia/Shanghai calendar date of an aware instant."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        # A naive time could be UTC (the server) or local (a person): refusing beats a day's error.
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(SHANGHAI).date()


def dispute_deadline(recorded_at: datetime, days: int) -> date:
    """Last day a finding recorded at `recorded_at` can be disputed: the `days`-th working day after its Shanghai date.

    The window lasts until the end of that day (Asia/Shanghai).
    """
    if days < 1:
        raise ValueError("dispute days must be at least 1")
    return add_working_days(shanghai_date(recorded_at), days)
