"""Correcting the meeting register over HTTP: voiding a meeting entered by mistake (its findings retracted in one
transaction, the meeting kept and marked 作废) and refusing the same meeting entered twice."""

from __future__ import annotations

from api.service import KaoheApp
from domain.actors import Actor
from tests.conftest import DISTRICTS, YEAR
from tests.test_http_api import error_of

Y = f"/years/{YEAR}"
OFFICE = Actor("another-office-process", "office")


def hold(api, title: str = "全市工会工作会议", held_on: str = "2018-03-15", **extra):
    return api.post("office", f"{Y}/meetings", {"title": title, "held_on": held_on, **extra})


def register(api) -> dict:
    return {m["id"]: m for m in api.get("office", f"{Y}/meetings").json()["meetings"]}


def test_a_voided_meeting_restores_the_scores_and_stays_in_the_register(api, year_2018, stored_events):
    hold(api, "一季度例会", "2018-02-01", absent=["中山区"])
    wrong = hold(api, absent=["中山区", "西岗区"], excused=["沙河口区"]).json()
    assert api.totals() == {"中山区": 99, "西岗区": 99.5, "沙河口区": 100}
    error_of(api.post("office", f"{Y}/meetings/{wrong['id']}/void", {"reason": ""}), 422, field="reason")
    error_of(api.post("宣传教育部", f"{Y}/meetings/{wrong['id']}/void", {"reason": "录错"}), 403)
    error_of(api.post("office", f"{Y}/meetings/00000000-0000-0000-0000-000000000000/void", {"reason": "录错"}), 404)
    r = api.post("office", f"{Y}/meetings/{wrong['id']}/void", {"reason": "录入时选错了会议"}, key="void-1")
    assert r.status_code == 200, r.text
    voided = r.json()
    assert sorted(x["id"] for x in voided["retracted"]) == sorted(f["id"] for f in wrong["findings"])
    assert api.totals() == {"中山区": 99.5, "西岗区": 100, "沙河口区": 100}  # the other meeting still counts
    entry = register(api)[wrong["id"]]
    assert entry["voided"] is True and entry["void_reason"] == "录入时选错了会议"
    assert entry["absent"] == ["中山区", "西岗区"]  # the register keeps what was entered
    assert {a["district"]: (a["status"], a["status_label"]) for a in entry["absences"]} == {
        "中山区": ("retracted", "已撤销"), "西岗区": ("retracted", "已撤销")}
    retraction = api.events("西岗区")[-1]
    assert retraction["type"] == "FindingRetracted" and "录入时选错了会议" in retraction["data"]["reason"]
    count = stored_events()
    assert api.post("office", f"{Y}/meetings/{wrong['id']}/void", {"reason": "录入时选错了会议"},
                    key="void-1").json() == voided
    assert stored_events() == count
    error_of(api.post("office", f"{Y}/meetings/{wrong['id']}/void", {"reason": "再来一次"}), 409)
    assert stored_events() == count


def test_an_overturned_absence_shows_as_such_and_a_void_leaves_it_alone(api, year_2018):
    meeting = hold(api, absent=["中山区", "西岗区"]).json()
    finding = next(f["id"] for f in meeting["findings"] if f["district"] == "中山区")
    dispute = api.post("中山区", f"{Y}/findings/{finding}/disputes", {"statement": "已请假"}).json()["id"]
    api.post("office", f"{Y}/disputes/{dispute}/resolution", {"decision": "overturned", "reason": "核实已请假"})
    absences = {a["district"]: a for a in register(api)[meeting["id"]]["absences"]}
    assert absences["中山区"]["status"] == "overturned" and absences["中山区"]["status_label"] == "申诉后撤销"
    assert absences["西岗区"]["status"] == "live"
    r = api.post("office", f"{Y}/meetings/{meeting['id']}/void", {"reason": "会议取消"})
    assert [x["district"] for x in r.json()["retracted"]] == ["西岗区"]
    absences = {a["district"]: a["status"] for a in register(api)[meeting["id"]]["absences"]}
    assert absences == {"中山区": "overturned", "西岗区": "retracted"}
    assert api.totals() == {d: 100 for d in DISTRICTS}


def test_a_void_with_an_open_dispute_is_refused_and_records_nothing(api, year_2018, stored_events):
    meeting = hold(api, absent=["中山区", "西岗区"]).json()
    finding = next(f["id"] for f in meeting["findings"] if f["district"] == "西岗区")
    api.post("西岗区", f"{Y}/findings/{finding}/disputes", {"statement": "已请假"})
    count = stored_events()
    error = error_of(api.post("office", f"{Y}/meetings/{meeting['id']}/void", {"reason": "录错"}), 409)
    assert "西岗区" in error["message"] and "申诉" in error["message"]
    assert stored_events() == count and api.totals()["中山区"] == 99.5


def test_the_same_meeting_twice_is_refused_unless_confirmed(api, year_2018, stored_events):
    first = hold(api, absent=["中山区"]).json()
    count = stored_events()
    error = error_of(hold(api, title=" 全市工会工作会议 ", absent=["中山区"]), 409, code="duplicate_meeting")
    assert "2018-03-15" in error["message"] and error["details"]["meetings"] == [first["id"]]
    assert stored_events() == count and api.totals()["中山区"] == 99.5
    assert hold(api, held_on="2018-03-16", absent=["中山区"]).status_code == 201  # another day: another meeting
    assert hold(api, absent=["中山区"], allow_duplicate=True).status_code == 201
    assert api.totals()["中山区"] == 98.5


def test_a_voided_meeting_can_be_entered_again_without_confirmation(api, year_2018):
    first = hold(api, absent=["中山区", "西岗区"]).json()
    api.post("office", f"{Y}/meetings/{first['id']}/void", {"reason": "缺席单位录错"})
    again = hold(api, absent=["中山区"])
    assert again.status_code == 201, again.text
    assert api.totals() == {"中山区": 99.5, "西岗区": 100, "沙河口区": 100}
    error_of(hold(api, absent=["中山区"]), 409, code="duplicate_meeting")


def test_a_duplicate_from_another_process_on_the_same_store_is_refused(app, api, year_2018):
    """Two services over one store (as two `kaohe serve` processes): the index is saved with the meeting."""
    env = {k: v for k, v in app.env_dict().items() if v or k == "POSTGRES_PASSWORD"}
    other = KaoheApp(env={**KaoheApp.env, **env})
    try:
        other.hold_meeting(OFFICE, year=YEAR, title="全市工会工作会议", held_on="2018-03-15", absent=["中山区"])
    finally:
        other.close()
    error_of(hold(api, absent=["西岗区"]), 409, code="duplicate_meeting")
    assert api.totals()["西岗区"] == 100
