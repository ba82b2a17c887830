"""One whole assessment year end to end through HTTP: findings, disputes, sign-off, close, replay, workbook."""

from __future__ import annotations

import io
import sqlite3
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from api.cli import main as kaohe
from tests.conftest import DISTRICTS
from tests.stores import POSTGRES_URL

SHANGHAI = ZoneInfo("Asia/Shanghai")
Y = "/years/2018"


@pytest.fixture
def played_year(api, app, year_2018, auth, make_headers):
    """A first quarter of findings, one dispute overturned and one upheld, everything signed off, closed."""
    auth["民主管理部"] = make_headers("department", department="民主管理部")
    meeting = api.post("office", f"{Y}/meetings", {"title": "一季度工作会议", "held_on": "2018-01-18",
                                                   "absent": ["中山区", "西岗区"], "excused": ["沙河口区"]}).json()
    api.post("office", f"{Y}/meetings", {"title": "劳模表彰大会", "held_on": "2018-03-02", "absent": ["西岗区"]})
    report = api.post("office", f"{Y}/reports", {"title": "2017年度工作总结", "due_on": "2018-01-31"}).json()["id"]
    api.post("office", f"{Y}/reports/{report}/submissions", {"district": "中山区", "submitted_on": "2018-01-30"})
    api.post("office", f"{Y}/reports/{report}/submissions", {"district": "西岗区", "submitted_on": "2018-02-05"})
    api.post("office", f"{Y}/reports/{report}/close")  # 西岗区 late, 沙河口区 missing
    task = api.post("office", f"{Y}/tasks", {"title": "春送岗位", "assigned_on": "2018-02-01", "due_on": "2018-03-15",
                                            "districts": ["中山区", "沙河口区"]}).json()["id"]
    api.post("office", f"{Y}/tasks/{task}/outcomes", {"district": "中山区", "outcome": "completed"})
    api.post("office", f"{Y}/tasks/{task}/outcomes", {"district": "沙河口区", "outcome": "unfinished"})
    api.post("宣传教育部", f"{Y}/districts/沙河口区/findings", {"clause": "2.3.b", "evidence": ["抽查记录"]})
    api.post("民主管理部", f"{Y}/districts/中山区/findings",
             {"clause": "5.4.b", "measures": {"enterprise_rate": 77.9, "large_enterprise_rate": 88}})
    # 西岗区 wins its dispute on the January meeting; 中山区 loses its own.
    xigang = next(f["id"] for f in meeting["findings"] if f["district"] == "西岗区")
    zhongshan = next(f["id"] for f in meeting["findings"] if f["district"] == "中山区")
    won = api.post("西岗区", f"{Y}/findings/{xigang}/disputes", {"statement": "已提前请假", "evidence": ["请假条.jpg"]}).json()
    lost = api.post("中山区", f"{Y}/findings/{zhongshan}/disputes", {"statement": "会议通知未收到"}).json()
    assert api.post("office", f"{Y}/disputes/{won['id']}/resolution",
                    {"decision": "overturned", "reason": "请假手续齐全"}).status_code == 201
    assert api.post("office", f"{Y}/disputes/{lost['id']}/resolution",
                    {"decision": "upheld", "reason": "通知已送达"}).status_code == 201
    rubric = api.get("admin", f"{Y}/rubric").json()
    for district in DISTRICTS:
        for category in rubric["categories"]:
            for indicator in category["indicators"]:
                r = api.post("admin", f"{Y}/districts/{district}/signoffs", {"indicator": indicator["id"]})
                assert r.status_code in (200, 201), r.text
    closed = api.post("admin", f"{Y}/close", {})
    assert closed.status_code == 200, closed.text
    return {"xigang_finding": xigang, "won": won["id"], "lost": lost["id"], "closed": closed.json()}


def test_the_scores_of_the_played_year(api, played_year):
    # 中山区: 8.2.b −0.5 (dispute upheld); 5.4.b mean 82.95 vs 85 → 2 full steps × 0.2 = −0.4 → 99.1
    # 西岗区: 8.2.b −0.5 (March; January overturned); 8.2.a late −0.5 → 99
    # 沙河口区: 8.2.a missing −0.5; 8.5.a −1; 2.3.b −1 → 97.5 (excused absence deducts nothing)
    assert api.totals() == {"中山区": 99.1, "西岗区": 99, "沙河口区": 97.5}
    scores = api.get("auditor", f"{Y}/scores").json()
    assert scores["final"] is True and scores["digest"] == played_year["closed"]["digest"]
    assert [(d["district"], d["rank"], d["signed_off"]) for d in scores["districts"]] == [
        ("中山区", 1, 30), ("西岗区", 2, 30), ("沙河口区", 3, 30)]


def test_a_district_that_wins_its_dispute_gets_its_half_point_back_with_the_thread_in_its_log(api, played_year):
    events = api.events("西岗区")
    thread = [(e["type"], e["data"].get("decision")) for e in events
              if e["type"] in ("FindingRecorded", "DisputeFiled", "DisputeResolved")
              and played_year["xigang_finding"] in (e["data"].get("finding_id"),)]
    assert thread == [("FindingRecorded", None), ("DisputeFiled", None), ("DisputeResolved", "overturned")]
    filed_at = next(e["recorded_at"] for e in events if e["type"] == "DisputeFiled")
    before = api.get("西岗区", f"{Y}/districts/西岗区/score", as_of=filed_at).json()
    assert before["total"] == 98.5  # what 西岗区 was told while its dispute was open: two meetings, one late report
    assert api.get("西岗区", f"{Y}/districts/西岗区/score").json()["total"] == 99
    queue = api.get("office", f"{Y}/disputes").json()
    assert [(d["id"], d["status"]) for d in queue["disputes"]] == [(played_year["won"], "overturned"),
                                                                   (played_year["lost"], "upheld")]


def test_after_close_every_write_is_409_and_reads_work(api, played_year):
    r = api.post("office", f"{Y}/meetings", {"title": "x", "held_on": "2018-12-01", "absent": ["中山区"]})
    assert r.status_code == 409 and "closed" in r.json()["error"]["message"]
    assert api.post("admin", f"{Y}/close", {"force": True}).status_code == 409
    assert api.get("中山区", f"{Y}/districts/中山区/score").status_code == 200


def test_replay_of_the_closed_year_is_byte_for_byte_the_same_twice_and_on_a_copy(api, app, played_year, monkeypatch,
                                                                                capsys, tmp_path):
    if app.views.is_postgres:
        monkeypatch.setenv("KAOHE_DATABASE_URL", POSTGRES_URL)
        monkeypatch.setenv("KAOHE_POSTGRES_SCHEMA", app.env.get("POSTGRES_SCHEMA"))
    else:
        monkeypatch.setenv("KAOHE_DATABASE_URL", f"sqlite:///{app.env.get('SQLITE_DBNAME')}")
    outputs = []
    for _ in range(2):
        assert kaohe(["replay", "--year", "2018"]) == 0
        outputs.append(capsys.readouterr().out.encode())
    if not app.views.is_postgres:  # and on a copy of the database file
        copy = tmp_path / "copy.sqlite3"
        with sqlite3.connect(app.env.get("SQLITE_DBNAME")) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        monkeypatch.setenv("KAOHE_DATABASE_URL", f"sqlite:///{copy}")
        assert kaohe(["replay", "--year", "2018"]) == 0
        outputs.append(capsys.readouterr().out.encode())
    assert len(set(outputs)) == 1
    text = outputs[0].decode()
    assert f"digest {played_year['closed']['digest']}" in text
    assert "1\t中山区\t99.10" in text and "3\t沙河口区\t97.50" in text
    assert api.totals() == {"中山区": 99.1, "西岗区": 99, "沙河口区": 97.5}  # the API agrees after the rebuild


def test_the_workbook_agrees_with_the_api_cell_by_cell(api, played_year):
    r = api.get("auditor", f"{Y}/export.xlsx")
    assert r.status_code == 200
    workbook = load_workbook(io.BytesIO(r.content))
    scores = api.get("auditor", f"{Y}/scores").json()
    assert workbook.sheetnames == ["汇总", *[d["district"] for d in scores["districts"]], "申报", "证明材料"]
    summary = list(workbook["汇总"].iter_rows(values_only=True))
    header = summary.index(next(row for row in summary if row and row[0] == "排名"))
    for row, expected in zip(summary[header + 1:], scores["districts"]):
        assert row[0] == expected["rank"] and row[1] == expected["district"]
        assert Decimal(str(row[2])) == Decimal(str(expected["total"]))
        assert [Decimal(str(v)) for v in row[3:11]] == [Decimal(str(expected["categories"][str(i)])) for i in range(1, 9)]
        assert row[11] == "30/30"
    assert any(row and row[1] == scores["log"]["root"] for row in summary)  # the final signed checkpoint
    for district in DISTRICTS:
        sheet = workbook[district]
        breakdown = api.get("auditor", f"{Y}/districts/{district}/score").json()
        assert Decimal(str(sheet["D1"].value)) == Decimal(str(breakdown["total"]))
        rows = list(sheet.iter_rows(min_row=3, values_only=True))
        indicators = {row[0]: row for row in rows if row and row[0]}
        for category in breakdown["categories"]:
            for indicator in category["indicators"]:
                row = indicators[indicator["id"]]
                assert row[1] == indicator["name"]
                assert (Decimal(str(row[3])), Decimal(str(row[4]))) == (
                    Decimal(str(indicator["score"])), Decimal(str(indicator["deduction"])))
                shown = [(r[5], Decimal(str(r[7])), r[9]) for r in rows
                         if r and r[5] and r[5].startswith(indicator["id"] + ".")]
                # record times are datetime cells, the audit log's recorded_at in Asia/Shanghai (+08:00)
                expected = [(cl["id"], Decimal(str(cl["deduction"] if f["counted"] else 0)),
                             datetime.fromisoformat(f["recorded_at"]).astimezone(SHANGHAI).replace(
                                 tzinfo=None, microsecond=0))
                            for cl in indicator["clauses"] for f in cl["findings"]]
                assert shown == expected
    zhongshan = list(workbook["中山区"].iter_rows(values_only=True))
    meeting_row = next(r for r in zhongshan if r[5] == "8.2.b")
    assert meeting_row[8] == datetime(2018, 1, 18) and meeting_row[13].startswith("申诉维持")  # a date cell
    assert Decimal(str(meeting_row[7])) == Decimal("0.5")
