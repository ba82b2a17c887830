"""The dispute window and 公示 over HTTP, on SQLite and PostgreSQL, on the official calendar (chinese_calendar).

The clock is set (tests.cycle_support.Clock): events are stamped with it and windows are checked against it.
"""

from __future__ import annotations

from datetime import date

import pytest

from tests.conftest import DISTRICTS, YEAR
from tests.cycle_support import clock, library_deadline  # noqa: F401 - the clock fixture
from tests.test_http_api import error_of

Y = f"/years/{YEAR}"


def open_year(api, clock, at: str = "2018-01-05T09:00", **extra) -> None:
    clock.set(at)
    r = api.post("admin", "/years", {"year": YEAR, "rubric": "dalian-2018", "districts": DISTRICTS, **extra})
    assert r.status_code == 201, r.text


def absence(api, clock, at: str, district: str = "中山区") -> str:
    """A missed meeting recorded by the office at `at` (Shanghai): one 8.2.b finding, −0.5."""
    clock.set(at)
    r = api.post("office", f"{Y}/meetings", {"title": f"会议{at} {district}", "held_on": "2018-09-20",
                                            "absent": [district]})
    assert r.status_code == 201, r.text
    return r.json()["findings"][0]["id"]


def finding_of(api, finding_id: str, district: str = "中山区") -> dict:
    score = api.get("auditor", f"{Y}/districts/{district}/score").json()
    return next(f for c in score["categories"] for i in c["indicators"] for cl in i["clauses"]
                for f in cl["findings"] if f["id"] == finding_id)


@pytest.mark.parametrize("recorded, days", [
    ("2018-09-28T10:00", 10),  # the Friday before 国庆: the 调休 weekend 9-29/30 counts, 10-1..7 do not
    ("2018-09-30T23:59", 3),  # a 调休 Sunday, late evening
    ("2018-10-01T01:00", 1),  # 17:00 UTC on 9-30 is already 国庆 in Shanghai
    ("2018-10-05T12:00", 5),
    ("2019-01-31T16:00", 10),  # before 春节 2019: 2-2/2-3 are 调休 working days, 2-4..2-10 holidays
    ("2019-02-06T09:00", 2),  # during 春节
])
def test_dispute_until_follows_the_official_calendar(api, clock, recorded, days):
    open_year(api, clock, dispute_days=days)
    finding = absence(api, clock, recorded)
    expected = library_deadline(date.fromisoformat(recorded[:10]), days)
    assert finding_of(api, finding)["dispute_until"] == expected.isoformat()
    assert api.get("auditor", Y).json()["dispute_days"] == days


def test_around_national_day_by_hand(api, clock):
    open_year(api, clock)
    finding = absence(api, clock, "2018-09-28T10:00")
    # 9-29, 9-30, 10-8 … 10-12, 10-15, 10-16, 10-17
    assert finding_of(api, finding)["dispute_until"] == "2018-10-17"


def test_a_late_dispute_is_409_naming_the_last_day(api, clock, stored_events):
    open_year(api, clock)
    on_time, late = absence(api, clock, "2018-09-28T10:00"), absence(api, clock, "2018-09-28T10:05", "西岗区")
    clock.set("2018-10-17T23:59")  # the end of the last day still counts
    assert api.post("中山区", f"{Y}/findings/{on_time}/disputes", {"statement": "已请假"}).status_code == 201
    clock.set("2018-10-18T00:01")
    before = stored_events()
    error = error_of(api.post("西岗区", f"{Y}/findings/{late}/disputes", {"statement": "已请假"}), 409,
                     code="dispute_window_closed")
    assert "2018-10-17" in error["message"] and error["details"] == {"dispute_until": "2018-10-17"}
    assert stored_events() == before


def test_dispute_days_is_at_least_one(api, clock, stored_events):
    clock.set("2018-01-05T09:00")
    for days in (0, -1, 61):
        error_of(api.post("admin", "/years", {"year": YEAR, "rubric": "dalian-2018", "districts": DISTRICTS,
                                              "dispute_days": days}), 422, field="dispute_days")
    assert stored_events() == 0


def test_publication_shows_every_district_the_ranking_extends_disputes_and_holds_the_close(api, app, clock):
    open_year(api, clock)
    old = absence(api, clock, "2018-09-28T10:00")  # its own window ended 2018-10-17
    older = absence(api, clock, "2018-09-28T10:00", "西岗区")
    error_of(api.get("中山区", f"{Y}/scores"), 403, code="forbidden")  # before 公示

    clock.set("2018-12-03T10:00")  # a Monday
    error_of(api.post("office", f"{Y}/publication", {"days": 5}), 403)
    error_of(api.post("admin", f"{Y}/publication", {"days": 0}), 422, field="days")
    r = api.post("admin", f"{Y}/publication", {"days": 5})
    assert r.status_code == 201, r.text
    assert (r.json()["starts_on"], r.json()["ends_on"], r.json()["stage"]) == ("2018-12-03", "2018-12-10",
                                                                               "publication")
    info = api.get("中山区", Y).json()
    assert info["stage"] == "publication" and info["publication"]["ends_on"] == "2018-12-10"
    error_of(api.post("admin", f"{Y}/publication", {"days": 3}), 409, code="publication_running")

    ranking = api.get("中山区", f"{Y}/scores")  # the whole ranking, for a district, during 公示
    assert ranking.status_code == 200, ranking.text
    assert {d["district"]: d["total"] for d in ranking.json()["districts"]} == {
        "中山区": 99.5, "西岗区": 99.5, "沙河口区": 100}
    error_of(api.get("中山区", f"{Y}/districts/西岗区/score"), 403)  # the ranking, not another's breakdown

    assert finding_of(api, old)["dispute_until"] == "2018-12-10"  # kept open until the 公示 ends
    clock.set("2018-12-05T15:00")
    assert api.post("中山区", f"{Y}/findings/{old}/disputes", {"statement": "公示期间申诉"}).status_code == 201

    error = error_of(api.post("admin", f"{Y}/close", {}), 409, code="publication_running")
    assert "2018-12-10" in error["message"]
    clock.set("2018-12-10T23:00")
    error_of(api.post("admin", f"{Y}/close", {"force": False}), 409, code="publication_running")

    clock.set("2018-12-11T09:00")  # the 公示 has ended
    assert api.get("中山区", Y).json()["stage"] == "open"
    error_of(api.get("中山区", f"{Y}/scores"), 403)
    error = error_of(api.post("西岗区", f"{Y}/findings/{older}/disputes", {"statement": "晚了"}), 409,
                     code="dispute_window_closed")
    assert "2018-12-10" in error["message"]
    refused = error_of(api.post("admin", f"{Y}/close", {}), 409)  # now only the unsigned indicators hold it
    assert refused["code"] == "conflict" and refused["details"]["unsigned"]
    admin = app.system_actor
    for district in DISTRICTS:
        for indicator in app.rubric_of_year(YEAR).indicators:
            app.sign_off(admin, year=YEAR, district=district, indicator=indicator.id)
    closed = api.post("admin", f"{Y}/close", {})
    assert closed.status_code == 200, closed.text
    assert api.get("auditor", Y).json()["stage"] == "closed"


def test_a_forced_close_during_publication(api, clock):
    open_year(api, clock)
    clock.set("2018-12-03T10:00")
    assert api.post("admin", f"{Y}/publication", {"days": 5}).status_code == 201
    r = api.post("admin", f"{Y}/close", {"force": True})
    assert r.status_code == 200 and r.json()["forced"] is True


def test_the_dispute_queue_shows_points_at_stake_and_working_days_waited(api, clock, make_headers):
    open_year(api, clock)
    absent = absence(api, clock, "2018-11-30T10:00")
    flag = api.post("宣传教育部", f"{Y}/districts/中山区/findings", {"clause": "2.2.a"}).json()["id"]
    clock.set("2018-12-05T10:00")
    first = api.post("中山区", f"{Y}/findings/{absent}/disputes", {"statement": "已请假"}).json()["id"]
    second = api.post("中山区", f"{Y}/findings/{flag}/disputes", {"statement": "已开展"}).json()["id"]
    clock.set("2018-12-10T10:00")  # 12-6, 12-7, 12-10
    entries = {d["id"]: d for d in api.get("office", f"{Y}/disputes", status="open").json()["disputes"]}
    assert set(entries) == {first, second}  # the office sees every open dispute …
    assert (entries[first]["points_at_stake"], entries[first]["waiting_days"]) == (0.5, 3)
    assert (entries[second]["points_at_stake"], entries[second]["waiting_days"]) == (2, 3)
    assert (entries[first]["can_resolve"], entries[second]["can_resolve"]) == (True, False)
    # … and resolves only its own
    error_of(api.post("office", f"{Y}/disputes/{second}/resolution", {"decision": "upheld", "reason": "x"}), 403)
    dept = {d["id"] for d in api.get("宣传教育部", f"{Y}/disputes").json()["disputes"]}
    assert dept == {second}
    clock.set("2018-12-12T10:00")
    assert api.post("宣传教育部", f"{Y}/disputes/{second}/resolution",
                    {"decision": "overturned", "reason": "属实"}).status_code == 201
    clock.set("2019-01-10T10:00")
    resolved = next(d for d in api.get("office", f"{Y}/disputes").json()["disputes"] if d["id"] == second)
    assert (resolved["points_at_stake"], resolved["waiting_days"]) == (0, 5)  # 12-5 → 12-12, no longer counted
