"""The HTTP API end to end: auth, errors, years, rubric, findings, retractions, scores, as-of, audit log.

Workflows, disputes, closing, idempotency and the role matrix have their own test_http_*.py files.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from api.http.models import RankRow
from api.service import tokens
from domain.actors import Actor
from domain.errors import Conflict, InvalidInput
from tests.conftest import DISTRICTS, YEAR

Y = f"/years/{YEAR}"


def error_of(r, status: int, field: str | None = None, code: str | None = None) -> dict:
    """Assert the JSON error shape; return the error."""
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["message"]
    if field is not None:
        assert error["field"] == field, error
    if code is not None:
        assert error["code"] == code, error
    return error


# --- health, auth, the error shape ---------------------------------------------------------

def test_health_needs_no_token(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer "}])
def test_a_missing_or_unknown_token_is_401_json(client, year_2018, headers):
    r = client.get(f"/api{Y}/rubric", headers=headers)
    error_of(r, 401, code="unauthorized")
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_a_write_without_a_token_records_nothing(client, year_2018, stored_events):
    before = stored_events()
    r = client.post(f"/api{Y}/meetings", json={"title": "会", "held_on": "2018-03-15", "absent": ["中山区"]})
    error_of(r, 401, code="unauthorized")
    assert stored_events() == before


def test_unknown_routes_answer_in_the_error_shape(api):
    error_of(api.get("admin", "/nowhere"), 404, code="not_found")


def test_openapi_docs_are_served(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/years", "/api/years/{year}/districts/{district}/findings", "/api/years/{year}/meetings",
                 "/api/years/{year}/verify", "/api/years/{year}/export.xlsx", "/health"):
        assert path in paths


def test_points_are_json_numbers_rounded_once_half_up_to_two_places():
    row = RankRow.model_validate({"district": "中山区", "total": "2.345", "rank": 1, "signed_off": 0,
                                  "categories": {"1": Decimal("0.1") + Decimal("0.2")}})
    assert json.loads(row.model_dump_json()) == {
        "district": "中山区", "total": 2.35, "rank": 1, "signed_off": 0, "categories": {"1": 0.3}}


# --- tokens ----------------------------------------------------------------------------------

def test_tokens_are_stored_hashed_and_name_their_actor(app):
    token = tokens.create_token(app.views, "宣教部张三", "department", department="宣传教育部")
    rows = app.views.query("SELECT token_hash, name, role, department, district FROM kaohe_tokens")
    assert rows == [(tokens.token_hash(token), "宣教部张三", "department", "宣传教育部", None)]
    assert token not in str(rows)
    assert tokens.actor_for(app.views, token) == Actor("宣教部张三", "department", department="宣传教育部")
    assert tokens.actor_for(app.views, token + "x") is None
    assert tokens.actor_for(app.views, "") is None


def test_tokens_survive_a_rebuild_of_the_views(app):
    token = tokens.create_token(app.views, "西岗区", "district", district="西岗区")
    app.views.drop_all()
    assert tokens.actor_for(app.views, token) == Actor("西岗区", "district", district="西岗区")


@pytest.mark.parametrize("kwargs, field", [
    ({"name": "x", "role": "boss"}, "role"),
    ({"name": "x", "role": "department"}, "department"),
    ({"name": "x", "role": "district"}, "district"),
    ({"name": "x", "role": "office", "district": "中山区"}, "district"),
    ({"name": "x", "role": "auditor", "department": "法律部"}, "department"),
    ({"name": " ", "role": "admin"}, "name"),
])
def test_token_creation_refuses_bad_input(app, kwargs, field):
    with pytest.raises(InvalidInput) as e:
        tokens.create_token(app.views, **kwargs)
    assert e.value.field == field


def test_token_names_are_unique(app):
    tokens.create_token(app.views, "办公室", "office")
    with pytest.raises(Conflict) as e:
        tokens.create_token(app.views, "办公室", "admin")
    assert e.value.field == "name"
    assert "办公室" in e.value.message


# --- years ---------------------------------------------------------------------------------

def test_admin_opens_a_year(api):
    r = api.post("admin", "/years", {"year": 2018, "rubric": "dalian-2018", "districts": DISTRICTS})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["year"] == 2018 and body["rubric"] == "dalian-2018" and body["districts"] == DISTRICTS
    assert len(body["rubric_hash"]) == 64
    assert set(body["receipt"]) == {"aggregate", "version", "head", "log"}

    years = api.get("中山区", "/years").json()["years"]
    assert years == [{"year": 2018, "rubric": "dalian-2018", "districts": DISTRICTS, "closed": False}]
    info = api.get("auditor", Y).json()
    assert info == {"year": 2018, "rubric": "dalian-2018", "rubric_hash": body["rubric_hash"],
                    "districts": DISTRICTS, "closed": False, "dispute_days": 10, "publication": None,
                    "stage": "open"}
    assert api.totals() == {d: 100 for d in DISTRICTS}
    assert [e["type"] for e in api.events("中山区")] == ["Opened"]


@pytest.mark.parametrize("who", ["office", "宣传教育部", "auditor", "中山区"])
def test_only_admin_opens_a_year(api, stored_events, who):
    before = stored_events()
    r = api.post(who, "/years", {"year": 2018, "rubric": "dalian-2018", "districts": DISTRICTS})
    error_of(r, 403, code="forbidden")
    assert stored_events() == before
    assert api.get("admin", "/years").json()["years"] == []


@pytest.mark.parametrize("body, field", [
    ({"year": 2018, "rubric": "no-such-rubric", "districts": DISTRICTS}, "rubric"),
    ({"year": 2018, "rubric": "dalian-2018", "districts": ["中山区", "中山区"]}, "districts"),
    ({"year": 2018, "rubric": "dalian-2018", "districts": []}, "districts"),
    ({"year": 1850, "rubric": "dalian-2018", "districts": DISTRICTS}, "year"),
    ({"year": "二〇一八", "rubric": "dalian-2018", "districts": DISTRICTS}, "year"),
    ({"year": 2018, "rubric": "dalian-2018"}, "districts"),
    ({"year": 2018, "rubric": "dalian-2018", "districts": DISTRICTS, "colour": "red"}, "colour"),
])
def test_opening_a_year_refuses_bad_input(api, stored_events, body, field):
    before = stored_events()
    error_of(api.post("admin", "/years", body), 422, field=field, code="invalid")
    assert stored_events() == before


def test_a_body_that_is_not_json_is_422(client, auth):
    r = client.post("/api/years", headers={**auth["admin"], "Content-Type": "application/json"}, content=b"{nope")
    error_of(r, 422, field="body")


def test_a_year_opens_once(api, year_2018, stored_events):
    before = stored_events()
    error_of(api.post("admin", "/years", {"year": 2018, "rubric": "dalian-2018", "districts": DISTRICTS}), 409)
    assert stored_events() == before


def test_unknown_and_malformed_years(api, year_2018):
    error_of(api.get("auditor", "/years/2019"), 404, code="not_found")
    error_of(api.get("auditor", "/years/2019/rubric"), 404)
    error_of(api.get("auditor", "/years/zwei/scores"), 422, field="year")


# --- rubric -----------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["admin", "office", "宣传教育部", "auditor", "中山区"])
def test_everyone_reads_the_rubric_tree(api, year_2018, who):
    r = api.get(who, f"{Y}/rubric")
    assert r.status_code == 200
    tree = r.json()
    assert tree["id"] == "dalian-2018" and tree["total"] == 100
    assert [c["id"] for c in tree["categories"]] == [str(i) for i in range(1, 9)]
    indicators = {i["id"]: i for c in tree["categories"] for i in c["indicators"]}
    assert len(indicators) == 30
    legal_aid = indicators["5.2"]
    assert legal_aid["name"] == "职工法律援助" and legal_aid["points"] == 2
    assert legal_aid["departments"] == ["法律部"] and legal_aid["evidence"]
    assert [(c["id"], c["points"]) for c in legal_aid["clauses"]] == [
        ("5.2.a", 0.4), ("5.2.b", 0.4), ("5.2.c", 0.4), ("5.2.d", 0.8)]
    assert all(c["kind"] and c["text"] for c in legal_aid["clauses"])
    bargaining = {c["id"]: c for c in indicators["5.4"]["clauses"]}["5.4.b"]
    assert [m["key"] for m in bargaining["measures"]] == ["enterprise_rate", "large_enterprise_rate"]
    assert all(m["label"] for m in bargaining["measures"])


# --- findings -----------------------------------------------------------------------------------

def test_a_department_records_a_finding_on_its_own_indicator(api, year_2018):
    r = api.post("宣传教育部", f"{Y}/districts/中山区/findings",
                 {"clause": "2.1.a", "note": "未见方案", "reference": "督查记录2018-07", "evidence": ["照片1.jpg"]})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["district"] == "中山区" and body["clause"] == "2.1.a" and body["indicator"] == "2.1"
    assert body["receipt"]["version"] == 2 and len(body["receipt"]["head"]) == 64
    assert api.totals() == {"中山区": 99, "西岗区": 100, "沙河口区": 100}

    recorded = api.events("中山区")[-1]
    assert recorded["type"] == "FindingRecorded"
    assert recorded["hash"] == body["receipt"]["head"]
    assert recorded["actor"] == {"name": "department-宣传教育部", "role": "department", "department": "宣传教育部"}
    assert recorded["data"]["finding_id"] == body["id"]
    assert recorded["data"]["evidence"] == ["照片1.jpg"] and recorded["data"]["reference"] == "督查记录2018-07"


def test_a_department_cannot_record_outside_its_indicators(api, year_2018, stored_events):
    before = stored_events()
    r = api.post("宣传教育部", f"{Y}/districts/中山区/findings", {"clause": "8.2.b", "occurred_on": "2018-05-01"})
    error = error_of(r, 403, code="forbidden")
    assert "8.2" in error["message"]
    assert stored_events() == before
    assert api.totals()["中山区"] == 100


@pytest.mark.parametrize("who", ["auditor", "中山区"])
def test_auditors_and_districts_record_no_findings(api, year_2018, stored_events, who):
    before = stored_events()
    error_of(api.post(who, f"{Y}/districts/中山区/findings", {"clause": "2.1.a"}), 403)
    assert stored_events() == before


def test_office_records_on_its_own_indicators_only(api, year_2018):
    assert api.post("office", f"{Y}/districts/西岗区/findings", {"clause": "8.3.d"}).status_code == 201
    error_of(api.post("office", f"{Y}/districts/西岗区/findings", {"clause": "2.1.a"}), 403)
    assert api.totals()["西岗区"] == 99


def test_measurements_are_scored_by_the_rubric_exactly(api, year_2018):
    # 5.4.b: mean of 77.9% and 90% is 83.95% against a mean target of 85%: one full 1% step short → 0.2.
    r = api.post("admin", f"{Y}/districts/沙河口区/findings",
                 {"clause": "5.4.b", "measures": {"enterprise_rate": 77.9, "large_enterprise_rate": 90}})
    assert r.status_code == 201, r.text
    # 5.4.d: 97% against 100% in 5% steps is no full step → nothing.
    assert api.post("admin", f"{Y}/districts/沙河口区/findings",
                    {"clause": "5.4.d", "measures": {"rate": "97"}}).status_code == 201
    assert api.totals()["沙河口区"] == 99.8
    score = api.get("auditor", f"{Y}/districts/沙河口区/score").json()
    indicator = next(i for c in score["categories"] for i in c["indicators"] if i["id"] == "5.4")
    assert (indicator["score"], indicator["deduction"]) == (4.8, 0.2)
    clause = next(c for c in indicator["clauses"] if c["id"] == "5.4.b")
    assert clause["findings"][0]["measures"] == {"enterprise_rate": "77.9", "large_enterprise_rate": "90"}


@pytest.mark.parametrize("district, body, field", [
    ("朝阳区", {"clause": "2.1.a"}, "district"),
    ("中山区", {"clause": "2.1.z"}, "clause"),
    ("中山区", {}, "clause"),
    ("中山区", {"clause": "5.4.b", "measures": {"enterprise_rate": 80}}, "measures.large_enterprise_rate"),
    ("中山区", {"clause": "5.4.b", "measures": {"enterprise_rate": 80, "large_enterprise_rate": 90, "x": 1}},
     "measures.x"),
    ("中山区", {"clause": "2.1.b", "measures": {"activities": -1}}, "measures.activities"),
    ("中山区", {"clause": "2.1.b", "measures": {"activities": 1.5}}, "measures.activities"),
    ("中山区", {"clause": "3.1.b", "measures": {"rate": 100.5}}, "measures.rate"),
    ("中山区", {"clause": "3.1.b", "measures": {"rate": "很多"}}, "measures.rate"),
    ("中山区", {"clause": "2.1.a", "measures": {"rate": 50}}, "measures"),
    ("中山区", {"clause": "8.2.b"}, "occurred_on"),
    ("中山区", {"clause": "8.2.b", "occurred_on": "2018-02-30"}, "occurred_on"),
    ("中山区", {"clause": "8.2.b", "occurred_on": "15/03/2018"}, "occurred_on"),
    ("中山区", {"clause": "8.2.b", "occurred_on": "2017-12-31"}, "occurred_on"),
    ("中山区", {"clause": "2.1.a", "evidence": "照片.jpg"}, "evidence"),
    ("中山区", {"clause": "2.1.a", "points": 3}, "points"),
])
def test_a_finding_with_bad_input_is_422_naming_the_field(api, year_2018, stored_events, district, body, field):
    before = stored_events()
    error_of(api.post("admin", f"{Y}/districts/{district}/findings", body), 422, field=field, code="invalid")
    assert stored_events() == before


def test_a_finding_in_an_unopened_year_is_404(api, year_2018):
    error_of(api.post("admin", "/years/2017/districts/中山区/findings", {"clause": "2.1.a"}), 404)


# --- retractions ----------------------------------------------------------------------------------

@pytest.fixture
def finding(api, year_2018) -> str:
    r = api.post("宣传教育部", f"{Y}/districts/中山区/findings", {"clause": "2.3.a"})
    assert r.status_code == 201
    return r.json()["id"]


def test_the_recording_department_retracts_and_the_score_is_restored(api, finding):
    assert api.totals()["中山区"] == 99
    r = api.post("宣传教育部", f"{Y}/findings/{finding}/retraction", {"reason": "材料已补齐，系误记"})
    assert r.status_code == 201, r.text
    assert r.json()["id"] == finding and r.json()["retracted"] is True
    assert api.totals()["中山区"] == 100
    retracted = api.events("中山区")[-1]
    assert retracted["type"] == "FindingRetracted"
    assert retracted["data"] == {"finding_id": finding, "reason": "材料已补齐，系误记", "evidence": []}
    assert r.json()["receipt"]["head"] == retracted["hash"]
    # The breakdown lists live findings only; the retracted one stays in the history.
    clause = next(cl for c in api.get("中山区", f"{Y}/districts/中山区/score").json()["categories"]
                  for i in c["indicators"] for cl in i["clauses"] if cl["id"] == "2.3.a")
    assert clause["deduction"] == 0  # the retracted finding stays visible, marked, and deducts nothing
    assert [(f["id"], f["status"], f["status_reason"], f["counted"]) for f in clause["findings"]] == [
        (finding, "retracted", "材料已补齐，系误记", False)]
    assert [e["data"].get("finding_id") for e in api.events("中山区")[1:]] == [finding, finding]


def test_admin_may_retract_any_finding(api, finding):
    assert api.post("admin", f"{Y}/findings/{finding}/retraction", {"reason": "复核撤销"}).status_code == 201
    assert api.totals()["中山区"] == 100


@pytest.mark.parametrize("who", ["组织建设部", "office", "auditor", "中山区"])
def test_only_the_recording_unit_or_admin_retracts(api, finding, stored_events, who):
    before = stored_events()
    error_of(api.post(who, f"{Y}/findings/{finding}/retraction", {"reason": "不服"}), 403)
    assert stored_events() == before
    assert api.totals()["中山区"] == 99


def test_retraction_refusals(api, finding, stored_events):
    before = stored_events()
    error_of(api.post("宣传教育部", f"{Y}/findings/{finding}/retraction", {}), 422, field="reason")
    error_of(api.post("宣传教育部", f"{Y}/findings/{finding}/retraction", {"reason": "  "}), 422, field="reason")
    error_of(api.post("宣传教育部", f"{Y}/findings/no-such-finding/retraction", {"reason": "x"}), 404)
    assert stored_events() == before
    assert api.post("宣传教育部", f"{Y}/findings/{finding}/retraction", {"reason": "误记"}).status_code == 201
    after = stored_events()
    error_of(api.post("宣传教育部", f"{Y}/findings/{finding}/retraction", {"reason": "再撤一次"}), 409)
    assert stored_events() == after


# --- the acceptance scenario -----------------------------------------------------------------------

def test_acceptance_a_meeting_with_two_absent_districts(api):
    assert api.post("admin", "/years", {"year": 2018, "rubric": "dalian-2018", "districts": DISTRICTS}).status_code == 201
    r = api.post("office", f"{Y}/meetings", {"title": "全市工会系统半年工作会议", "held_on": "2018-07-12",
                                           "absent": ["中山区", "西岗区"]})
    assert r.status_code == 201, r.text
    meeting = r.json()
    assert [(f["district"], f["clause"]) for f in meeting["findings"]] == [("中山区", "8.2.b"), ("西岗区", "8.2.b")]

    scores = api.get("office", f"{Y}/scores")
    assert scores.status_code == 200
    assert '"total":99.5' in scores.text.replace(" ", "")  # a JSON number, two decimals at most
    body = scores.json()
    assert body["year"] == 2018 and body["final"] is False
    assert [(d["district"], d["total"], d["rank"]) for d in body["districts"]] == [
        ("沙河口区", 100, 1), ("中山区", 99.5, 2), ("西岗区", 99.5, 2)]
    assert all(isinstance(d["total"], float) for d in body["districts"])
    by_district = {d["district"]: d for d in body["districts"]}
    assert by_district["中山区"]["categories"]["8"] == 19.5
    assert by_district["沙河口区"]["categories"] == {"1": 10, "2": 10, "3": 10, "4": 12, "5": 16, "6": 12, "7": 10,
                                                  "8": 20}

    for finding in meeting["findings"]:
        events = api.get(finding["district"], f"{Y}/districts/{finding['district']}/audit").json()["events"]
        recorded = [e for e in events if e["type"] == "FindingRecorded"]
        assert len(recorded) == 1
        data = recorded[0]["data"]
        assert data["finding_id"] == finding["id"] and data["clause"] == "8.2.b"
        assert data["occurred_on"] == "2018-07-12"
        assert data["source"] == {"kind": "meeting", "id": meeting["id"], "title": "全市工会系统半年工作会议"}
        assert recorded[0]["actor"] == {"name": "office", "role": "office"}
        assert recorded[0]["hash"] == finding["receipt"]["head"]
    assert [e["type"] for e in api.events("沙河口区")] == ["Opened"]


# --- scores, breakdowns, as-of ------------------------------------------------------------------------

@pytest.fixture
def meeting(api, year_2018) -> dict:
    r = api.post("office", f"{Y}/meetings", {"title": "季度督查会", "held_on": "2018-04-10", "absent": ["中山区"]})
    assert r.status_code == 201
    return r.json()


@pytest.mark.parametrize("who", ["admin", "office", "宣传教育部", "auditor"])
def test_scores_are_read_by_every_role_but_districts(api, meeting, who):
    r = api.get(who, f"{Y}/scores")
    assert r.status_code == 200
    assert {d["district"]: d["total"] for d in r.json()["districts"]} == {"中山区": 99.5, "西岗区": 100, "沙河口区": 100}


def test_a_district_cannot_read_the_ranking(api, meeting):
    error_of(api.get("中山区", f"{Y}/scores"), 403, code="forbidden")


def test_a_district_reads_only_its_own_breakdown(api, meeting):
    r = api.get("中山区", f"{Y}/districts/中山区/score")
    assert r.status_code == 200
    score = r.json()
    assert score["district"] == "中山区" and score["total"] == 99.5
    supervision = next(c for c in score["categories"] if c["id"] == "8")
    assert (supervision["points"], supervision["score"]) == (20, 19.5)
    indicator = next(i for i in supervision["indicators"] if i["id"] == "8.2")
    assert (indicator["points"], indicator["score"], indicator["deduction"], indicator["signed_off"]) == (4, 3.5, 0.5,
                                                                                                      False)
    clause = next(c for c in indicator["clauses"] if c["id"] == "8.2.b")
    assert clause["deduction"] == 0.5
    assert [(f["id"], f["counted"]) for f in clause["findings"]] == [(meeting["findings"][0]["id"], True)]

    error_of(api.get("中山区", f"{Y}/districts/西岗区/score"), 403, code="forbidden")
    error_of(api.get("中山区", f"{Y}/districts/西岗区/audit"), 403, code="forbidden")
    error_of(api.get("中山区", f"{Y}/districts/西岗区/score/diff", since="2018-01-01"), 403)
    assert api.get("西岗区", f"{Y}/districts/西岗区/score").json()["total"] == 100


def test_an_unknown_district_is_404(api, year_2018):
    error_of(api.get("auditor", f"{Y}/districts/朝阳区/score"), 404)
    error_of(api.get("auditor", f"{Y}/districts/朝阳区/audit"), 404)


def shanghai_today():
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def test_as_of_shows_what_the_system_knew_then(api, meeting):
    yesterday = (shanghai_today() - timedelta(days=1)).isoformat()
    assert api.totals(as_of=yesterday)["中山区"] == 100
    assert api.get("中山区", f"{Y}/districts/中山区/score", as_of=yesterday).json()["total"] == 100
    assert api.totals(as_of=shanghai_today().isoformat())["中山区"] == 99.5

    first_at = api.events("中山区")[-1]["recorded_at"]
    assert api.post("office", f"{Y}/meetings", {"title": "二次", "held_on": "2018-05-10",
                                               "absent": ["中山区"]}).status_code == 201
    assert api.totals()["中山区"] == 99
    then = api.get("auditor", f"{Y}/districts/中山区/score", as_of=first_at).json()
    assert then["total"] == 99.5
    clause = next(cl for c in then["categories"] for i in c["indicators"] for cl in i["clauses"] if cl["id"] == "8.2.b")
    assert len(clause["findings"]) == 1


def test_a_malformed_as_of_is_422(api, meeting):
    error_of(api.get("auditor", f"{Y}/scores", as_of="yesterday"), 422, field="as_of")
    error_of(api.get("auditor", f"{Y}/districts/中山区/score", as_of="2018-13-01"), 422, field="as_of")


def test_the_score_difference_between_two_instants(api, meeting):
    opened_at = api.events("中山区")[0]["recorded_at"]
    r = api.get("中山区", f"{Y}/districts/中山区/score/diff", since=opened_at)
    assert r.status_code == 200
    diff = r.json()
    assert (diff["district"], diff["before"], diff["after"], diff["change"]) == ("中山区", 100, 99.5, -0.5)
    assert diff["indicators"] == [{"indicator": "8.2", "name": "督查工作", "before": 4, "after": 3.5, "change": -0.5}]
    unchanged = api.get("auditor", f"{Y}/districts/中山区/score/diff", since=opened_at, until=opened_at).json()
    assert unchanged["change"] == 0 and unchanged["indicators"] == []
    error_of(api.get("auditor", f"{Y}/districts/中山区/score/diff"), 422, field="since")


# --- the audit log ------------------------------------------------------------------------------------

def test_the_audit_log_is_every_event_oldest_first_and_chained(api, meeting):
    assert api.post("宣传教育部", f"{Y}/districts/中山区/findings", {"clause": "2.2.a"}).status_code == 201
    r = api.get("中山区", f"{Y}/districts/中山区/audit")
    assert r.status_code == 200
    body = r.json()
    assert body["year"] == 2018 and body["district"] == "中山区"
    events = body["events"]
    assert [e["type"] for e in events] == ["Opened", "FindingRecorded", "FindingRecorded"]
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert [e["data"]["clause"] for e in events[1:]] == ["8.2.b", "2.2.a"]
    assert events[0]["prev_hash"] == "0" * 64
    for earlier, later in zip(events, events[1:]):
        assert later["prev_hash"] == earlier["hash"]
        assert later["recorded_at"] >= earlier["recorded_at"]


@pytest.mark.parametrize("who", ["admin", "office", "宣传教育部", "auditor"])
def test_every_role_but_other_districts_reads_a_district_audit_log(api, meeting, who):
    assert len(api.get(who, f"{Y}/districts/中山区/audit").json()["events"]) == 2


def test_the_audit_log_as_csv_opens_in_excel(api, meeting):
    r = api.get("中山区", f"{Y}/districts/中山区/audit", format="csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["seq", "recorded_at", "actor", "type", "data", "hash", "prev_hash",
                       "signature", "topic", "originator_id", "originator_version", "state"]
    events = api.events("中山区")
    assert len(rows) == 1 + len(events)
    for row, event in zip(rows[1:], events):
        assert row[0] == str(event["seq"]) and row[1] == event["recorded_at"] and row[3] == event["type"]
        assert json.loads(row[2]) == event["actor"] and json.loads(row[4]) == event["data"]
        assert row[5:7] == [event["hash"], event["prev_hash"]]
        assert row[7:] == [event["signature"], event["topic"], event["originator_id"],
                           str(event["originator_version"]), event["state"]]
    assert "中山区" in rows[1][4] and "未参加：季度督查会" in rows[2][4]
    error_of(api.get("西岗区", f"{Y}/districts/中山区/audit", format="csv"), 403)
    error_of(api.get("auditor", f"{Y}/districts/中山区/audit", format="xml"), 422, field="format")


def test_without_an_app_the_lifespan_builds_one_from_the_environment(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from api.asgi import create_app
    from api.service import KaoheApp

    url = f"sqlite:///{tmp_path}/from-env.sqlite3"
    monkeypatch.setenv("KAOHE_DATABASE_URL", url)
    with TestClient(create_app()) as client:
        service = client.app.state.kaohe
        assert service.env.get("SQLITE_DBNAME") == f"{tmp_path}/from-env.sqlite3"
        headers = {"Authorization": f"Bearer {tokens.create_token(service.views, 'root', 'admin')}"}
        r = client.post("/api/years", headers=headers, json={"year": 2018, "rubric": "dalian-2018",
                                                             "districts": DISTRICTS})
        assert r.status_code == 201
    reopened = KaoheApp.from_url(url)  # the lifespan closed its app; the history is on disk
    try:
        assert [y["year"] for y in reopened.years()] == [2018]
    finally:
        reopened.close()
