"""The office's workflows over HTTP: meetings (8.2.b), reports (8.2.a) and temporary tasks (8.5.a)."""

from __future__ import annotations

import pytest

from tests.conftest import YEAR
from tests.test_http_api import error_of

Y = f"/years/{YEAR}"


def indicator_of(api, district: str, indicator_id: str) -> dict:
    score = api.get("auditor", f"{Y}/districts/{district}/score").json()
    return next(i for c in score["categories"] for i in c["indicators"] if i["id"] == indicator_id)


# --- meetings --------------------------------------------------------------------------------

def test_an_excused_absence_deducts_nothing_but_is_in_the_history(api, year_2018):
    r = api.post("office", f"{Y}/meetings", {"title": "劳模表彰大会", "held_on": "2018-04-28",
                                           "absent": ["中山区"], "excused": ["西岗区"], "note": "西岗区书记出差"})
    assert r.status_code == 201, r.text
    assert [f["district"] for f in r.json()["findings"]] == ["中山区"]
    assert api.totals() == {"中山区": 99.5, "西岗区": 100, "沙河口区": 100}
    excused = api.get("西岗区", f"{Y}/districts/西岗区/audit").json()["events"][-1]
    assert excused["type"] == "ActivityNoted"
    assert excused["data"]["activity"] == "excused_absence" and excused["data"]["occurred_on"] == "2018-04-28"
    assert excused["data"]["source"]["id"] == r.json()["id"]
    assert [e["type"] for e in api.events("沙河口区")] == ["Opened"]


def test_missed_meetings_deduct_up_to_the_cap(api, year_2018):
    for month in range(1, 7):
        assert api.post("office", f"{Y}/meetings", {"title": f"{month}月例会", "held_on": f"2018-{month:02d}-05",
                                                   "absent": ["沙河口区"]}).status_code == 201
    assert api.totals()["沙河口区"] == 98  # 6 × 0.5 capped at 2
    indicator = indicator_of(api, "沙河口区", "8.2")
    assert (indicator["score"], indicator["deduction"]) == (2, 2)
    assert len([e for e in api.events("沙河口区") if e["type"] == "FindingRecorded"]) == 6


def test_the_meeting_list(api, year_2018):
    r = api.post("office", f"{Y}/meetings", {"title": "全委会", "held_on": "2018-03-15", "absent": ["中山区"],
                                           "excused": ["沙河口区"]})
    for who in ("office", "auditor", "admin"):
        meetings = api.get(who, f"{Y}/meetings").json()["meetings"]
        assert len(meetings) == 1
        m = meetings[0]
        assert (m["id"], m["title"], m["held_on"], m["absent"], m["excused"]) == (
            r.json()["id"], "全委会", "2018-03-15", ["中山区"], ["沙河口区"])
    for who in ("中山区", "宣传教育部"):
        error_of(api.get(who, f"{Y}/meetings"), 403)


@pytest.mark.parametrize("who", ["宣传教育部", "auditor", "中山区"])
def test_only_the_office_logs_meetings(api, year_2018, stored_events, who):
    before = stored_events()
    error_of(api.post(who, f"{Y}/meetings", {"title": "会", "held_on": "2018-03-15", "absent": ["西岗区"]}), 403)
    assert stored_events() == before
    assert api.totals()["西岗区"] == 100


@pytest.mark.parametrize("body, field", [
    ({"title": "会", "held_on": "2018-03-15", "absent": ["朝阳区"]}, "absent"),
    ({"title": "会", "held_on": "2018-03-15", "excused": ["朝阳区"]}, "excused"),
    ({"title": "会", "held_on": "2018-03-15", "absent": ["中山区"], "excused": ["中山区"]}, "excused"),
    ({"title": "会", "held_on": "2018-03-15", "absent": ["中山区", "中山区"]}, "absent"),
    ({"title": "会", "held_on": "2018-3-15", "absent": ["中山区"]}, "held_on"),
    ({"title": "会", "held_on": "2019-01-02", "absent": ["中山区"]}, "held_on"),
    ({"title": "会", "absent": ["中山区"]}, "held_on"),
    ({"title": " ", "held_on": "2018-03-15", "absent": ["中山区"]}, "title"),
    ({"title": "会", "held_on": "2018-03-15", "absent": "中山区"}, "absent"),
    ({"title": "会", "held_on": "2018-03-15", "present": ["中山区"]}, "present"),
])
def test_a_meeting_with_bad_input_is_422(api, year_2018, stored_events, body, field):
    before = stored_events()
    error_of(api.post("office", f"{Y}/meetings", body), 422, field=field, code="invalid")
    assert stored_events() == before


# --- reports -----------------------------------------------------------------------------------

@pytest.fixture
def report(api, year_2018) -> str:
    r = api.post("office", f"{Y}/reports", {"title": "2018年上半年工作总结", "due_on": "2018-07-10"})
    assert r.status_code == 201, r.text
    assert r.json()["title"] == "2018年上半年工作总结" and r.json()["due_on"] == "2018-07-10"
    return r.json()["id"]


def test_a_report_round_on_time_late_and_missing(api, report):
    on_time = api.post("office", f"{Y}/reports/{report}/submissions", {"district": "中山区", "submitted_on": "2018-07-10"})
    assert on_time.status_code == 201, on_time.text
    assert (on_time.json()["district"], on_time.json()["on_time"]) == ("中山区", True)
    late = api.post("office", f"{Y}/reports/{report}/submissions", {"district": "西岗区", "submitted_on": "2018-07-11"})
    assert late.status_code == 201 and late.json()["on_time"] is False
    assert api.totals() == {"中山区": 100, "西岗区": 100, "沙河口区": 100}  # nothing deducts before the close

    listed = api.get("office", f"{Y}/reports").json()["reports"]
    assert [(r["id"], r["closed"], r["submissions"]) for r in listed] == [
        (report, False, {"中山区": "2018-07-10", "西岗区": "2018-07-11"})]

    r = api.post("office", f"{Y}/reports/{report}/close")
    assert r.status_code == 200, r.text
    closed = r.json()
    assert (closed["late"], closed["missing"]) == (["西岗区"], ["沙河口区"])
    assert [(f["district"], f["clause"], f["reason"]) for f in closed["findings"]] == [
        ("西岗区", "8.2.a", "late"), ("沙河口区", "8.2.a", "missing")]
    assert api.totals() == {"中山区": 100, "西岗区": 99.5, "沙河口区": 99.5}

    assert [e["data"].get("activity") for e in api.events("中山区")[1:]] == ["report_submitted"]
    late_events = api.events("西岗区")[1:]
    assert [e["type"] for e in late_events] == ["ActivityNoted", "FindingRecorded"]
    assert late_events[0]["data"]["activity"] == "report_submitted_late"
    assert late_events[1]["data"]["occurred_on"] == "2018-07-10" and late_events[1]["data"]["source"]["id"] == report
    assert api.get("office", f"{Y}/reports").json()["reports"][0]["closed"] is True


def test_a_closed_report_takes_nothing_more(api, report, stored_events):
    assert api.post("office", f"{Y}/reports/{report}/close").status_code == 200
    before = stored_events()
    error_of(api.post("office", f"{Y}/reports/{report}/close"), 409)
    error_of(api.post("office", f"{Y}/reports/{report}/submissions", {"district": "中山区",
                                                                     "submitted_on": "2018-07-20"}), 409)
    assert stored_events() == before
    assert api.totals() == {"中山区": 99.5, "西岗区": 99.5, "沙河口区": 99.5}


def test_report_refusals(api, report, stored_events):
    assert api.post("office", f"{Y}/reports/{report}/submissions",
                    {"district": "中山区", "submitted_on": "2018-07-01"}).status_code == 201
    before = stored_events()
    error_of(api.post("office", f"{Y}/reports/{report}/submissions",
                      {"district": "中山区", "submitted_on": "2018-07-02"}), 409)
    error_of(api.post("office", f"{Y}/reports/{report}/submissions",
                      {"district": "朝阳区", "submitted_on": "2018-07-02"}), 422, field="district")
    error_of(api.post("office", f"{Y}/reports/{report}/submissions",
                      {"district": "西岗区", "submitted_on": "07/02/2018"}), 422, field="submitted_on")
    error_of(api.post("office", f"{Y}/reports/{report}/submissions",
                      {"district": "西岗区", "submitted_on": "2019-01-03"}), 422, field="submitted_on")
    error_of(api.post("office", f"{Y}/reports/{report}/submissions", {"district": "西岗区"}), 422,
             field="submitted_on")
    error_of(api.post("office", f"{Y}/reports/not-a-report/submissions",
                      {"district": "西岗区", "submitted_on": "2018-07-02"}), 404)
    error_of(api.post("office", f"{Y}/reports/not-a-report/close"), 404)
    error_of(api.post("office", f"{Y}/reports", {"title": "全年总结", "due_on": "2018-12-32"}), 422, field="due_on")
    error_of(api.post("office", f"{Y}/reports", {"title": "全年总结", "due_on": "2017-12-31"}), 422, field="due_on")
    error_of(api.post("office", f"{Y}/reports", {"due_on": "2018-12-31"}), 422, field="title")
    assert stored_events() == before


def test_a_report_id_of_another_kind_is_404(api, year_2018):
    meeting = api.post("office", f"{Y}/meetings", {"title": "会", "held_on": "2018-03-15"}).json()["id"]
    error_of(api.post("office", f"{Y}/reports/{meeting}/close"), 404)


@pytest.mark.parametrize("who", ["宣传教育部", "auditor", "中山区"])
def test_only_the_office_runs_reports(api, report, stored_events, who):
    before = stored_events()
    error_of(api.post(who, f"{Y}/reports", {"title": "总结", "due_on": "2018-12-31"}), 403)
    error_of(api.post(who, f"{Y}/reports/{report}/submissions", {"district": "中山区", "submitted_on": "2018-07-01"}),
             403)
    error_of(api.post(who, f"{Y}/reports/{report}/close"), 403)
    if who != "auditor":  # the auditor reads everything
        error_of(api.get(who, f"{Y}/reports"), 403)
    assert stored_events() == before


# --- temporary tasks -------------------------------------------------------------------------------

@pytest.fixture
def task(api, year_2018) -> str:
    r = api.post("office", f"{Y}/tasks", {"title": "职工互助保障活动宣传", "assigned_on": "2018-05-02",
                                        "due_on": "2018-06-30", "districts": ["中山区", "西岗区"]})
    assert r.status_code == 201, r.text
    assert r.json()["districts"] == ["中山区", "西岗区"]
    return r.json()["id"]


def test_an_unfinished_task_deducts_one_point(api, task):
    r = api.post("office", f"{Y}/tasks/{task}/outcomes", {"district": "中山区", "outcome": "unfinished",
                                                         "note": "未按期报送宣传情况"})
    assert r.status_code == 201, r.text
    assert r.json()["outcome"] == "unfinished" and r.json()["finding"]["clause"] == "8.5.a"
    assert api.totals() == {"中山区": 99, "西岗区": 100, "沙河口区": 100}
    recorded = api.events("中山区")[-1]
    assert recorded["type"] == "FindingRecorded"
    assert recorded["data"]["finding_id"] == r.json()["finding"]["id"]
    assert recorded["data"]["occurred_on"] == "2018-06-30" and recorded["data"]["note"] == "未按期报送宣传情况"


def test_a_completed_task_deducts_nothing_but_is_in_the_history(api, task):
    r = api.post("office", f"{Y}/tasks/{task}/outcomes", {"district": "西岗区", "outcome": "completed"})
    assert r.status_code == 201, r.text
    assert "finding" not in r.json()
    assert api.totals()["西岗区"] == 100
    noted = api.events("西岗区")[-1]
    assert (noted["type"], noted["data"]["activity"], noted["data"]["source"]["id"]) == (
        "ActivityNoted", "task_completed", task)
    tasks = api.get("auditor", f"{Y}/tasks").json()["tasks"]
    assert [(t["id"], t["outcomes"]) for t in tasks] == [(task, {"西岗区": "completed"})]


def test_unfinished_tasks_deduct_until_the_three_points_are_gone(api, year_2018):
    for n in range(4):
        t = api.post("office", f"{Y}/tasks", {"title": f"任务{n}", "assigned_on": "2018-05-02", "due_on": "2018-06-30",
                                            "districts": ["沙河口区"]}).json()["id"]
        assert api.post("office", f"{Y}/tasks/{t}/outcomes", {"district": "沙河口区",
                                                             "outcome": "unfinished"}).status_code == 201
    assert api.totals()["沙河口区"] == 97
    assert indicator_of(api, "沙河口区", "8.5")["score"] == 0


def test_task_refusals(api, task, stored_events):
    assert api.post("office", f"{Y}/tasks/{task}/outcomes", {"district": "中山区", "outcome": "completed"}).status_code == 201
    before = stored_events()
    error_of(api.post("office", f"{Y}/tasks/{task}/outcomes", {"district": "中山区", "outcome": "unfinished"}), 409)
    error_of(api.post("office", f"{Y}/tasks/{task}/outcomes", {"district": "西岗区", "outcome": "done"}), 422,
             field="outcome")
    error_of(api.post("office", f"{Y}/tasks/{task}/outcomes", {"district": "沙河口区", "outcome": "completed"}), 422, field="district")
    error_of(api.post("office", f"{Y}/tasks/{task}/outcomes", {"district": "朝阳区", "outcome": "completed"}), 422,
             field="district")
    error_of(api.post("office", f"{Y}/tasks/no-such-task/outcomes", {"district": "中山区", "outcome": "completed"}), 404)
    base = {"title": "任务", "assigned_on": "2018-05-02", "due_on": "2018-06-30", "districts": ["中山区"]}
    for change, field in (({"due_on": "2018-05-01"}, "due_on"), ({"districts": []}, "districts"),
                          ({"districts": ["朝阳区"]}, "districts"), ({"assigned_on": "2018/05/02"}, "assigned_on"),
                          ({"due_on": "2019-01-01"}, "due_on")):
        error_of(api.post("office", f"{Y}/tasks", {**base, **change}), 422, field=field)
    assert stored_events() == before


@pytest.mark.parametrize("who", ["宣传教育部", "auditor", "中山区"])
def test_only_the_office_runs_tasks(api, task, stored_events, who):
    before = stored_events()
    error_of(api.post(who, f"{Y}/tasks", {"title": "任务", "assigned_on": "2018-05-02", "due_on": "2018-06-30",
                                         "districts": ["中山区"]}), 403)
    error_of(api.post(who, f"{Y}/tasks/{task}/outcomes", {"district": "中山区", "outcome": "unfinished"}), 403)
    if who != "auditor":  # the auditor reads everything
        error_of(api.get(who, f"{Y}/tasks"), 403)
    assert stored_events() == before
    assert api.totals()["中山区"] == 100
