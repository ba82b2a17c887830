"""Disputes, sign-offs, closing a year, verify and export over HTTP."""

from __future__ import annotations

import io
import sqlite3

import orjson
import pytest

from api.service import KaoheApp
from domain.actors import Actor
from domain.ledger import ledger_id
from tests.conftest import DISTRICTS, YEAR
from tests.test_http_api import error_of

Y = f"/years/{YEAR}"


@pytest.fixture
def absence(api, year_2018) -> str:
    """A meeting 中山区 missed: one 8.2.b finding (−0.5) by the office; returns the finding's id."""
    r = api.post("office", f"{Y}/meetings", {"title": "上半年督查推进会", "held_on": "2018-06-20", "absent": ["中山区"]})
    assert r.status_code == 201
    return r.json()["findings"][0]["id"]


@pytest.fixture
def dispute(api, absence) -> str:
    r = api.post("中山区", f"{Y}/findings/{absence}/disputes", {"statement": "已请假并报备，附请假条", "evidence": ["请假条.pdf"]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


# --- disputes ------------------------------------------------------------------------------------

def test_a_district_disputes_its_own_finding(api, absence):
    r = api.post("中山区", f"{Y}/findings/{absence}/disputes", {"statement": "已请假", "evidence": ["请假条.pdf"]})
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["finding"], body["district"], body["status"]) == (absence, "中山区", "open")
    assert api.totals()["中山区"] == 99.5  # a dispute alone changes no score

    for who in ("office", "admin", "auditor", "中山区"):
        queue = api.get(who, f"{Y}/disputes", status="open").json()["disputes"]
        assert [(d["id"], d["finding"], d["indicator"], d["status"], d["statement"]) for d in queue] == [
            (body["id"], absence, "8.2", "open", "已请假")]
    for who in ("西岗区", "宣传教育部"):  # out of scope: neither their district nor their indicator
        assert api.get(who, f"{Y}/disputes").json()["disputes"] == []
    filed = api.events("中山区")[-1]
    assert (filed["type"], filed["data"]["dispute_id"], filed["data"]["evidence"]) == (
        "DisputeFiled", body["id"], ["请假条.pdf"])


def test_an_overturned_dispute_gives_the_half_point_back(api, dispute):
    r = api.post("office", f"{Y}/disputes/{dispute}/resolution", {"decision": "overturned", "reason": "请假手续齐全"})
    assert r.status_code == 201, r.text
    assert (r.json()["id"], r.json()["status"]) == (dispute, "overturned")
    assert api.totals()["中山区"] == 100
    resolved = api.events("中山区")[-1]
    assert (resolved["type"], resolved["data"]["decision"], resolved["data"]["reason"]) == (
        "DisputeResolved", "overturned", "请假手续齐全")
    assert api.get("office", f"{Y}/disputes", status="open").json()["disputes"] == []
    done = api.get("中山区", f"{Y}/disputes", status="overturned").json()["disputes"]
    assert [(d["id"], d["reason"]) for d in done] == [(dispute, "请假手续齐全")]


def test_an_upheld_dispute_keeps_the_deduction(api, dispute):
    r = api.post("admin", f"{Y}/disputes/{dispute}/resolution", {"decision": "upheld", "reason": "未见请假记录"})
    assert r.status_code == 201 and r.json()["status"] == "upheld"
    assert api.totals()["中山区"] == 99.5


def test_a_dispute_is_resolved_once(api, dispute, stored_events):
    assert api.post("office", f"{Y}/disputes/{dispute}/resolution",
                    {"decision": "upheld", "reason": "维持"}).status_code == 201
    before = stored_events()
    error_of(api.post("office", f"{Y}/disputes/{dispute}/resolution", {"decision": "overturned", "reason": "改判"}), 409)
    assert stored_events() == before
    assert api.totals()["中山区"] == 99.5


@pytest.mark.parametrize("who", ["中山区", "西岗区", "宣传教育部", "auditor"])
def test_only_the_responsible_unit_or_admin_resolves(api, dispute, stored_events, who):
    before = stored_events()
    error_of(api.post(who, f"{Y}/disputes/{dispute}/resolution", {"decision": "overturned", "reason": "撤销"}), 403)
    assert stored_events() == before
    assert api.totals()["中山区"] == 99.5


@pytest.mark.parametrize("who", ["西岗区", "office", "admin", "auditor", "宣传教育部"])
def test_only_the_findings_district_disputes_it(api, absence, stored_events, who):
    before = stored_events()
    error_of(api.post(who, f"{Y}/findings/{absence}/disputes", {"statement": "不服"}), 403)
    assert stored_events() == before


def test_a_retracted_finding_cannot_be_disputed(api, absence, stored_events):
    assert api.post("office", f"{Y}/findings/{absence}/retraction", {"reason": "误记"}).status_code == 201
    before = stored_events()
    error_of(api.post("中山区", f"{Y}/findings/{absence}/disputes", {"statement": "不服"}), 409)
    assert stored_events() == before


def test_a_dispute_needs_a_statement(api, absence, stored_events):
    before = stored_events()
    error_of(api.post("中山区", f"{Y}/findings/{absence}/disputes", {"statement": " "}), 422, field="statement")
    error_of(api.post("中山区", f"{Y}/findings/{absence}/disputes", {}), 422, field="statement")
    error_of(api.post("中山区", f"{Y}/findings/{absence}/disputes", {"statement": "x", "evidence": "a.pdf"}), 422,
             field="evidence")
    assert stored_events() == before


def test_dispute_refusals(api, dispute, stored_events, absence):
    before = stored_events()
    error_of(api.post("中山区", f"{Y}/findings/{absence}/disputes", {"statement": "再申诉"}), 409)  # one open at a time
    error_of(api.post("中山区", f"{Y}/findings/no-such-finding/disputes", {"statement": "不服"}), 404)
    error_of(api.post("office", f"{Y}/disputes/{dispute}/resolution", {"decision": "maybe", "reason": "x"}), 422,
             field="decision")
    error_of(api.post("office", f"{Y}/disputes/{dispute}/resolution", {"decision": "upheld", "reason": " "}), 422,
             field="reason")
    error_of(api.post("office", f"{Y}/disputes/no-such-dispute/resolution", {"decision": "upheld", "reason": "x"}),
             404)
    error_of(api.get("office", f"{Y}/disputes", status="closed"), 422, field="status")
    assert stored_events() == before
    # An open dispute holds the finding: it cannot be retracted under it.
    error_of(api.post("office", f"{Y}/findings/{absence}/retraction", {"reason": "撤销"}), 409)


# --- sign-offs ----------------------------------------------------------------------------------

def test_the_responsible_department_signs_off_an_indicator(api, year_2018):
    r = api.post("宣传教育部", f"{Y}/districts/中山区/signoffs", {"indicator": "2.1", "note": "材料齐全"})
    assert r.status_code == 201, r.text
    assert (r.json()["district"], r.json()["indicator"], r.json()["signed_off"]) == ("中山区", "2.1", True)
    score = api.get("中山区", f"{Y}/districts/中山区/score").json()
    signed = {i["id"]: i["signed_off"] for c in score["categories"] for i in c["indicators"]}
    assert signed["2.1"] is True and not any(v for k, v in signed.items() if k != "2.1")
    ranking = {d["district"]: d["signed_off"] for d in api.get("auditor", f"{Y}/scores").json()["districts"]}
    assert ranking == {"中山区": 1, "西岗区": 0, "沙河口区": 0}
    signed_event = api.events("中山区")[-1]
    assert (signed_event["type"], signed_event["data"]["indicator"]) == ("IndicatorSignedOff", "2.1")


@pytest.mark.parametrize("who, indicator", [("宣传教育部", "8.2"), ("office", "2.1"), ("中山区", "2.1"),
                                            ("auditor", "2.1"), ("组织建设部", "2.1")])
def test_sign_off_is_for_the_responsible_unit(api, year_2018, stored_events, who, indicator):
    before = stored_events()
    error_of(api.post(who, f"{Y}/districts/中山区/signoffs", {"indicator": indicator}), 403)
    assert stored_events() == before


def test_sign_off_refusals(api, year_2018, stored_events):
    before = stored_events()
    error_of(api.post("admin", f"{Y}/districts/中山区/signoffs", {"indicator": "9.9"}), 422, field="indicator")
    error_of(api.post("admin", f"{Y}/districts/朝阳区/signoffs", {"indicator": "2.1"}), 422, field="district")
    error_of(api.post("admin", f"{Y}/districts/中山区/signoffs", {}), 422, field="indicator")
    assert stored_events() == before


# --- closing the year ------------------------------------------------------------------------------

def test_a_year_with_unsigned_indicators_closes_only_by_force(api, absence, stored_events):
    assert api.post("宣传教育部", f"{Y}/districts/中山区/signoffs", {"indicator": "2.1"}).status_code == 201
    before = stored_events()
    error = error_of(api.post("admin", f"{Y}/close"), 409, code="conflict")
    unsigned = error["details"]["unsigned"]
    assert len(unsigned) == 3 * 30 - 1 and ["中山区", "2.1"] not in unsigned and ["中山区", "1.1"] in unsigned
    assert stored_events() == before

    r = api.post("admin", f"{Y}/close", {"force": True, "note": "年终强制结束"})
    assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["closed"] is True and closed["forced"] is True and len(closed["unsigned"]) == 89
    assert len(closed["digest"]) == 64

    scores = api.get("auditor", f"{Y}/scores").json()
    assert scores["final"] is True and scores["digest"] == closed["digest"]
    assert {d["district"]: d["total"] for d in scores["districts"]} == {"中山区": 99.5, "西岗区": 100, "沙河口区": 100}
    assert api.get("auditor", Y).json()["closed"] is True
    assert api.get("auditor", "/years").json()["years"][0]["closed"] is True


def test_a_fully_signed_year_closes_without_force(app, api, year_2018):
    admin = Actor("签核", "admin")
    for district in DISTRICTS:
        for indicator in app.rubric_of_year(YEAR).indicators:
            app.sign_off(admin, year=YEAR, district=district, indicator=indicator.id)
    r = api.post("admin", f"{Y}/close")
    assert r.status_code == 200, r.text
    assert (r.json()["forced"], r.json()["unsigned"]) == (False, [])


def test_after_close_writes_are_409_and_reads_still_work(api, dispute, absence, stored_events):
    report = api.post("office", f"{Y}/reports", {"title": "总结", "due_on": "2018-12-20"}).json()["id"]
    assert api.post("admin", f"{Y}/close", {"force": True}).status_code == 200
    before = stored_events()
    writes = [
        ("宣传教育部", f"{Y}/districts/中山区/findings", {"clause": "2.1.a"}),
        ("office", f"{Y}/findings/{absence}/retraction", {"reason": "x"}),
        ("office", f"{Y}/meetings", {"title": "会", "held_on": "2018-12-25", "absent": ["西岗区"]}),
        ("office", f"{Y}/reports", {"title": "总结", "due_on": "2018-12-31"}),
        ("office", f"{Y}/reports/{report}/submissions", {"district": "中山区", "submitted_on": "2018-12-20"}),
        ("office", f"{Y}/reports/{report}/close", None),
        ("office", f"{Y}/tasks", {"title": "任务", "assigned_on": "2018-12-01", "due_on": "2018-12-31",
                                  "districts": ["中山区"]}),
        ("中山区", f"{Y}/findings/{absence}/disputes", {"statement": "x"}),
        ("office", f"{Y}/disputes/{dispute}/resolution", {"decision": "overturned", "reason": "x"}),
        ("宣传教育部", f"{Y}/districts/中山区/signoffs", {"indicator": "2.1"}),
        ("admin", f"{Y}/close", {"force": True}),
    ]
    for who, path, body in writes:
        error_of(api.post(who, path, body), 409)
    assert stored_events() == before
    assert api.get("中山区", f"{Y}/districts/中山区/score").json()["total"] == 99.5
    log = api.get("中山区", f"{Y}/districts/中山区/audit").json()["events"]
    assert [e["type"] for e in log][-1] == "Closed" and len(log) == 4  # the close is in each district's history
    assert len(api.get("office", f"{Y}/disputes").json()["disputes"]) == 1
    assert len(api.get("office", f"{Y}/reports").json()["reports"]) == 1
    assert api.get("中山区", f"{Y}/rubric").status_code == 200


@pytest.mark.parametrize("who", ["office", "宣传教育部", "auditor", "中山区"])
def test_only_admin_closes_a_year(api, year_2018, stored_events, who):
    before = stored_events()
    error_of(api.post(who, f"{Y}/close", {"force": True}), 403)
    assert stored_events() == before
    assert api.get("auditor", Y).json()["closed"] is False


def test_closing_an_unknown_year_is_404_and_a_bad_force_is_422(api, year_2018):
    error_of(api.post("admin", "/years/2019/close", {"force": True}), 404)
    error_of(api.post("admin", f"{Y}/close", {"force": "please"}), 422, field="force")


# --- verify ------------------------------------------------------------------------------------------

needs_verify = pytest.mark.skipif(not hasattr(KaoheApp, "verify"), reason="KaoheApp.verify is not there yet")


@needs_verify
@pytest.mark.parametrize("who", ["auditor", "admin"])
def test_verify_an_intact_history(api, absence, who):
    r = api.get(who, f"{Y}/verify")
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["ok"] is True and result["problems"] == []
    assert result["events"] >= 5 and len(result["head"]) == 64


@pytest.mark.parametrize("who", ["office", "宣传教育部", "中山区"])
def test_verify_is_for_auditors_and_admins(api, year_2018, who):
    error_of(api.get(who, f"{Y}/verify"), 403, code="forbidden")


@needs_verify
def test_verify_reports_an_edited_event(sqlite_file, api, absence):
    path = sqlite_file
    with sqlite3.connect(path) as db:
        rowid, state = db.execute(
            "SELECT rowid, state FROM stored_events WHERE originator_id = ? AND originator_version = 2",
            (ledger_id(YEAR, "中山区").hex,)).fetchone()
        data = orjson.loads(state)
        data["note"] = "篡改后的说明"
        db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (orjson.dumps(data), rowid))
    r = api.get("auditor", f"{Y}/verify")
    assert r.status_code == 200
    assert r.json()["ok"] is False and r.json()["problems"]


# --- export ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["宣传教育部", "中山区"])
def test_export_is_for_office_auditor_and_admin(api, year_2018, who):
    error_of(api.get(who, f"{Y}/export.xlsx"), 403, code="forbidden")


@pytest.mark.skipif(not hasattr(KaoheApp, "export_xlsx"), reason="KaoheApp.export_xlsx is not there yet")
@pytest.mark.parametrize("who", ["office", "auditor", "admin"])
def test_export_is_a_workbook_of_the_same_scores(api, absence, who):
    from openpyxl import load_workbook

    r = api.get(who, f"{Y}/export.xlsx")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    workbook = load_workbook(io.BytesIO(r.content))
    assert workbook.sheetnames[0] == "汇总"
    cells = [c for row in workbook["汇总"].iter_rows(values_only=True) for c in row]
    assert "中山区" in cells and 99.5 in cells
