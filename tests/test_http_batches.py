"""Batch calls over HTTP: findings, sign-offs, report submissions and task outcomes, each all or nothing in one
transaction, a refusal naming the row and its field, every row its own event with its own receipt."""

from __future__ import annotations

from tests.conftest import DISTRICTS, YEAR
from tests.test_http_api import error_of

Y = f"/years/{YEAR}"
DEPT = "民主管理部"


def test_a_batch_with_one_bad_row_records_nothing_and_names_the_row(api, auth, make_headers, year_2018,
                                                                       stored_events):
    auth[DEPT] = make_headers("department", department=DEPT)
    before = stored_events()
    rows = [{"district": "中山区", "clause": "5.4.a"},
            {"district": "西岗区", "clause": "5.5.c", "measures": {"rate": 5}},
            {"district": "沙河口区", "clause": "5.5.c", "measures": {"rate": 150}},
            {"district": "中山区", "clause": "5.5.c", "measures": {"rat": 5}}]
    error = error_of(api.post(DEPT, f"{Y}/findings/batch", {"findings": rows}), 422,
                     field="findings[2].measures.rate")
    assert "第 3 行" in error["message"]
    assert [(r["row"], r["field"]) for r in error["details"]["rows"]] == [
        (2, "findings[2].measures.rate"), (3, "findings[3].measures.rat")]
    assert stored_events() == before
    assert api.totals() == {d: 100 for d in DISTRICTS}
    # the body's own shape is checked first, and named the same way
    error_of(api.post(DEPT, f"{Y}/findings/batch", {"findings": [{"district": "中山区"}]}), 422,
             field="findings[0].clause")
    error_of(api.post(DEPT, f"{Y}/findings/batch", {"findings": []}), 422, field="findings")
    assert stored_events() == before


def test_a_good_batch_scores_as_computed_by_hand_each_row_its_own_event_and_receipt(api, auth, make_headers,
                                                                                     year_2018, stored_events):
    auth[DEPT] = make_headers("department", department=DEPT)
    rows = [
        # 5.4.a 无方案: 1 point
        {"district": "中山区", "clause": "5.4.a", "note": "无方案"},
        # 5.4.b mean (78 + 88) / 2 = 83 against mean target 85: 2 full steps × 0.2 = 0.4
        {"district": "中山区", "clause": "5.4.b", "measures": {"enterprise_rate": 78, "large_enterprise_rate": 88}},
        # 5.5.a 未建立厂务公开领导机构: 0.5
        {"district": "西岗区", "clause": "5.5.a"},
        {"district": "西岗区", "clause": "5.5.a"},  # a flag deducts once however often recorded
    ]
    r = api.post(DEPT, f"{Y}/findings/batch", {"findings": rows}, key="batch-1")
    assert r.status_code == 201, r.text
    answers = r.json()["findings"]
    assert [(a["district"], a["clause"]) for a in answers] == [(x["district"], x["clause"]) for x in rows]
    # every row is its own FindingRecorded event on its district's ledger, and its receipt names it
    zs = [e for e in api.events("中山区") if e["type"] == "FindingRecorded"]
    assert [e["data"]["finding_id"] for e in zs] == [answers[0]["id"], answers[1]["id"]]
    assert [a["receipt"]["head"] for a in answers[:2]] == [e["hash"] for e in zs]
    assert answers[0]["receipt"]["version"] + 1 == answers[1]["receipt"]["version"]
    assert answers[2]["receipt"]["head"] != answers[3]["receipt"]["head"]
    totals = api.totals()
    assert totals == {"中山区": 100 - 1 - 0.4, "西岗区": 99.5, "沙河口区": 100}
    # the same key and body: the first answer, nothing new
    count = stored_events()
    again = api.post(DEPT, f"{Y}/findings/batch", {"findings": rows}, key="batch-1")
    assert again.status_code == 201 and again.headers["Idempotent-Replay"] == "true"
    assert again.json() == r.json() and stored_events() == count
    error_of(api.post(DEPT, f"{Y}/findings/batch", {"findings": rows[:1]}, key="batch-1"), 422,
             code="idempotency_key_reused")


def test_a_batch_outside_the_departments_scope_is_refused_naming_the_row(api, year_2018, stored_events):
    before = stored_events()
    error = error_of(api.post("宣传教育部", f"{Y}/findings/batch", {"findings": [
        {"district": "中山区", "clause": "2.2.a"}, {"district": "中山区", "clause": "5.4.a"}]}), 403,
        field="findings[1]")
    assert "第 2 行" in error["message"] and "5.4" in error["message"]
    error_of(api.post("auditor", f"{Y}/findings/batch", {"findings": [{"district": "中山区", "clause": "2.2.a"}]}),
             403)
    assert stored_events() == before


def test_a_thousand_findings_are_one_transaction(app, api, auth, make_headers, year_2018, monkeypatch):
    saves: list[int] = []
    insert = app.recorder.insert_events

    def counted(events, **kwargs):
        saves.append(len(events))
        return insert(events, **kwargs)

    monkeypatch.setattr(app.recorder, "insert_events", counted)
    rows = [{"district": DISTRICTS[i % 3], "clause": "8.2.b", "occurred_on": "2018-05-01"} for i in range(1000)]
    r = api.post("office", f"{Y}/findings/batch", {"findings": rows})
    assert r.status_code == 201, r.text
    assert saves == [1000]  # one save(), one transaction, every row its own event
    assert len({f["id"] for f in r.json()["findings"]}) == 1000
    assert api.totals() == {d: 98 for d in DISTRICTS}  # 8.2.b capped at 2


def test_signoffs_in_one_go(app, api, year_2018, stored_events):
    rows = [{"district": d, "indicator": i} for d in DISTRICTS for i in ("2.1", "2.2", "2.3", "2.4")]
    before = stored_events()
    error_of(api.post("宣传教育部", f"{Y}/signoffs/batch", {"signoffs": rows + [{"district": "中山区",
                                                                           "indicator": "9.9"}]}),
             422, field=f"signoffs[{len(rows)}].indicator")
    assert stored_events() == before
    r = api.post("宣传教育部", f"{Y}/signoffs/batch", {"signoffs": rows})
    assert r.status_code == 201, r.text
    assert len(r.json()["signoffs"]) == 12 and all(s["signed_off"] for s in r.json()["signoffs"])
    assert [d for d, i in app.unsigned_pairs(YEAR) if i.startswith("2.")] == []
    ranking = api.get("auditor", f"{Y}/scores").json()
    assert {d["district"]: d["signed_off"] for d in ranking["districts"]} == {d: 4 for d in DISTRICTS}


def test_a_reports_submissions_in_one_go(api, year_2018, stored_events):
    report = api.post("office", f"{Y}/reports", {"title": "上半年工作总结", "due_on": "2018-07-10"}).json()["id"]
    before = stored_events()
    error = error_of(api.post("office", f"{Y}/reports/{report}/submissions/batch", {"submissions": [
        {"district": "中山区", "submitted_on": "2018-07-09"},
        {"district": "中山区", "submitted_on": "2018-07-10"}]}), 409, field="submissions[1]")
    assert "已于 2018-07-09 报送" in error["message"]
    assert stored_events() == before
    error_of(api.post("office", f"{Y}/reports/nope/submissions/batch",
                      {"submissions": [{"district": "中山区", "submitted_on": "2018-07-09"}]}), 404)
    r = api.post("office", f"{Y}/reports/{report}/submissions/batch", {"submissions": [
        {"district": "中山区", "submitted_on": "2018-07-09"}, {"district": "西岗区", "submitted_on": "2018-07-12"}]})
    assert r.status_code == 201, r.text
    assert [(s["district"], s["on_time"]) for s in r.json()["submissions"]] == [("中山区", True), ("西岗区", False)]
    closed = api.post("office", f"{Y}/reports/{report}/close").json()
    assert (closed["late"], closed["missing"]) == (["西岗区"], ["沙河口区"])
    assert api.totals() == {"中山区": 100, "西岗区": 99.5, "沙河口区": 99.5}


def test_a_tasks_outcomes_in_one_go(api, year_2018, stored_events):
    task = api.post("office", f"{Y}/tasks", {"title": "困难职工慰问", "assigned_on": "2018-05-01",
                                           "due_on": "2018-05-31", "districts": DISTRICTS}).json()["id"]
    before = stored_events()
    error_of(api.post("office", f"{Y}/tasks/{task}/outcomes/batch", {"outcomes": [
        {"district": "中山区", "outcome": "completed"}, {"district": "西岗区", "outcome": "lost"}]}), 422,
        field="outcomes[1].outcome")
    assert stored_events() == before
    r = api.post("office", f"{Y}/tasks/{task}/outcomes/batch", {"outcomes": [
        {"district": "中山区", "outcome": "completed"}, {"district": "西岗区", "outcome": "unfinished", "note": "未报"},
        {"district": "沙河口区", "outcome": "unfinished"}]})
    assert r.status_code == 201, r.text
    outcomes = r.json()["outcomes"]
    assert "finding" not in outcomes[0] and outcomes[1]["finding"]["clause"] == "8.5.a"
    assert api.totals() == {"中山区": 100, "西岗区": 99, "沙河口区": 99}
    listed = api.get("office", f"{Y}/tasks").json()["tasks"][0]["outcomes"]
    assert listed == {"中山区": "completed", "西岗区": "unfinished", "沙河口区": "unfinished"}
