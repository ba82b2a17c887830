"""Working days around 国庆 2018 and 春节 2019, checked by hand and against chinese_calendar itself."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import chinese_calendar
import pytest

from domain.working_days import (
    CalendarUnknown,
    add_working_days,
    dispute_deadline,
    is_working_day,
    shanghai_date,
    working_days_between,
)


def reference_add(day: date, n: int) -> date:
    # An independent count straight from the library, to compare with.
    while n:
        day += timedelta(days=1)
        n -= chinese_calendar.is_workday(day)
    return day


def test_national_day_2018_adjusted_weekend_and_holiday():
    assert is_working_day(date(2018, 9, 29))  # Saturday, 调休 working day
    assert is_working_day(date(2018, 9, 30))  # Sunday, 调休 working day
    for d in range(1, 8):
        assert not is_working_day(date(2018, 10, d))
    assert is_working_day(date(2018, 10, 8))


def test_spring_festival_2019_adjusted_weekend_and_holiday():
    assert is_working_day(date(2019, 2, 2))
    assert is_working_day(date(2019, 2, 3))
    for d in range(4, 11):
        assert not is_working_day(date(2019, 2, d))
    assert is_working_day(date(2019, 2, 11))


def test_hand_checked_ten_working_days():
    # Sep 29, Sep 30, Oct 8–12, Oct 15, 16, 17.
    assert add_working_days(date(2018, 9, 28), 10) == date(2018, 10, 17)
    # Feb 1, Feb 2, Feb 3, Feb 11–15, Feb 18, 19.
    assert add_working_days(date(2019, 1, 31), 10) == date(2019, 2, 19)
    # Day itself never counts, even when it is a working day; over a holiday the next is far.
    assert add_working_days(date(2018, 9, 30), 1) == date(2018, 10, 8)
    assert add_working_days(date(2018, 10, 3), 1) == date(2018, 10, 8)
    assert add_working_days(date(2018, 9, 28), 0) == date(2018, 9, 28)


@pytest.mark.parametrize("start", [date(2018, 9, 20) + timedelta(days=i) for i in range(25)]
                         + [date(2019, 1, 25) + timedelta(days=i) for i in range(25)])
@pytest.mark.parametrize("n", [1, 2, 5, 10, 15])
def test_add_matches_library(start, n):
    assert add_working_days(start, n) == reference_add(start, n)


@pytest.mark.parametrize("start", [date(2018, 9, 25), date(2018, 9, 30), date(2019, 1, 30), date(2019, 2, 5)])
def test_between_is_inverse_of_add(start):
    for n in range(0, 16):
        end = add_working_days(start, n)
        assert working_days_between(start, end) == n
        expected = sum(chinese_calendar.is_workday(start + timedelta(days=k)) for k in range(1, (end - start).days + 1))
        assert working_days_between(start, end) == expected


def test_between_hand_checked_and_empty():
    assert working_days_between(date(2018, 9, 28), date(2018, 10, 8)) == 3
    assert working_days_between(date(2018, 10, 1), date(2018, 10, 7)) == 0
    assert working_days_between(date(2018, 10, 8), date(2018, 10, 8)) == 0
    assert working_days_between(date(2018, 10, 9), date(2018, 10, 8)) == 0


def test_shanghai_conversion():
    instant = datetime(2018, 9, 30, 17, 0, tzinfo=timezone.utc)
    assert shanghai_date(instant) == date(2018, 10, 1)
    # Recorded on the Shanghai date Oct 1 (a holiday): the first working day after is Oct 8.
    assert dispute_deadline(instant, 1) == date(2018, 10, 8)
    # 2018-09-28T17:00Z is Saturday Sep 29 in Shanghai: one working day later is Sunday Sep 30
    # (调休); counted on the UTC date (Sep 28) it would wrongly be Sep 29.
    late_friday = datetime(2018, 9, 28, 17, 0, tzinfo=timezone.utc)
    assert dispute_deadline(late_friday, 1) == date(2018, 9, 30)
    assert dispute_deadline(datetime(2018, 9, 28, 15, 59, tzinfo=timezone.utc), 1) == date(2018, 9, 29)
    assert dispute_deadline(datetime(2019, 1, 31, 9, 0, tzinfo=timezone.utc), 10) == date(2019, 2, 19)


def test_naive_instant_and_bad_days_refused():
    with pytest.raises(ValueError):
        dispute_deadline(datetime(2018, 9, 30, 17, 0), 10)
    with pytest.raises(ValueError):
        dispute_deadline(datetime(2018, 9, 30, 17, 0, tzinfo=timezone.utc), 0)
    with pytest.raises(ValueError):
        add_working_days(date(2018, 9, 30), -1)


def test_unknown_year_is_a_clear_domain_error():
    with pytest.raises(CalendarUnknown) as caught:
        is_working_day(date(2099, 3, 2))
    assert isinstance(caught.value, ValueError)
    assert caught.value.year == 2099
    assert "2099" in str(caught.value) and "节假日" in str(caught.value)
    # Running off the end of the known data names the first unknown year.
    with pytest.raises(CalendarUnknown) as caught:
        add_working_days(date(2099, 1, 1) - timedelta(days=1), 1)
    assert caught.value.year == 2099
