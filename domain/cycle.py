"""The assessment cycle in time (考核周期): the dispute window (申诉期), 公示, and the year's stage.

Counted in official working days on Asia/Shanghai dates (domain.working_days). `dispute_until`
is the one answer to "until when can this finding be disputed"; the command check and every
read (breakdown, pages) ask it.
"""

from __future__ import annotations

from datetime import date, datetime

from domain.errors import DisputeWindowClosed, InvalidInput
from domain.working_days import CalendarUnknown, dispute_deadline, shanghai_date, working_days_between

DEFAULT_DISPUTE_DAYS = 10
MAX_DAYS = 60  # a longer window or 公示 is a typing mistake, not a policy
STAGE_LABELS = {"open": "进行中", "publication": "公示中", "closed": "已结束"}


def check_days(value: object, field: str) -> int:
    """A count of working days given by a person: a whole number from 1 to MAX_DAYS."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise InvalidInput(f"{field} 必须是 1 至 {MAX_DAYS} 之间的整数（工作日） "
                           f"({field} must be a whole number of working days, 1..{MAX_DAYS})", field=field)
    return value


def instant(text: str) -> datetime:
    """A stored UTC ISO instant (events' recorded_at) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def publication_end(published_at: datetime, days: int) -> date:
    """The last day of a 公示 published at `published_at`: counted like a dispute window (the day itself not).

    Raises CalendarUnknown (409) when the official calendar does not reach that far: a 公示 with
    an end nobody can name is not published.
    """
    return dispute_deadline(published_at, days)


def dispute_until(recorded_at: str | None, dispute_days: int, publication_ends_on: str | None) -> date | None:
    """The last day (Asia/Shanghai, inclusive) a finding recorded at `recorded_at` can be disputed.

    Its own window is `dispute_days` working days after the day it was recorded; a 公示 keeps
    every live finding disputable until the 公示 ends, so the later of the two applies. None when
    the official calendar does not reach the end of the window yet: the window is then taken as
    open (a district is never refused on a guessed calendar).
    """
    if not recorded_at:
        return None
    try:
        own = dispute_deadline(instant(recorded_at), dispute_days)
    except CalendarUnknown:
        return None
    if publication_ends_on:
        return max(own, date.fromisoformat(publication_ends_on))
    return own


def check_dispute_window(recorded_at: str | None, dispute_days: int, publication_ends_on: str | None,
                         now: datetime) -> None:
    """Refuse a dispute filed at `now` after the finding's last day (409 dispute_window_closed, naming it)."""
    last = dispute_until(recorded_at, dispute_days, publication_ends_on)
    if last is not None and shanghai_date(now) > last:
        raise DisputeWindowClosed(
            f"申诉期已于 {last.isoformat()} 结束，不能再提出申诉 "
            f"(the dispute window closed at the end of {last.isoformat()})",
            details={"dispute_until": last.isoformat()})


def window_open(until: str | date | None, today: date) -> bool:
    """Whether a finding whose last day is `until` (as `dispute_until` gave it) can still be disputed today."""
    if until is None:
        return True
    return today <= (date.fromisoformat(until) if isinstance(until, str) else until)


def waiting_days(since: str, until: datetime) -> int | None:
    """Working days from the day of `since` (a stored instant) to the day of `until`; None past the known calendar."""
    try:
        return working_days_between(shanghai_date(instant(since)), shanghai_date(until))
    except CalendarUnknown:
        return None


def publication_running(ends_on: str | None, today: date) -> bool:
    return bool(ends_on) and today <= date.fromisoformat(ends_on)


def stage(closed: bool, publication_ends_on: str | None, today: date) -> str:
    """open (进行中), publication (公示中) or closed (已结束)."""
    if closed:
        return "closed"
    return "publication" if publication_running(publication_ends_on, today) else "open"
