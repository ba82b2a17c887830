"""申报 and review over HTTP, on SQLite and PostgreSQL: submit → return → submit again → sign-off, the queue, scope."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from tests.conftest import YEAR
from tests.cycle_support import PDF, upload
from tests.test_http_api import error_of

Y = f"/years/{YEAR}"


def queue(api, who: str, **params: str) -> list[dict]:
    r = api.get(who, f"{Y}/submissions", **params)
    assert r.status_code == 200, r.text
    return r.json()["submissions"]


def test_submit_return_submit_again_and_sign_off(api, year_2018):
    sha = upload(api, "中山区", "中山区", PDF, name="宣传工作方案.pdf").json()["sha256"]
    first = api.post("中山区", f"{Y}/districts/中山区/submissions",
                     {"indicator": "2.1", "statement": "已制定年度宣传方案", "evidence": [f"sha256:{sha}"]})
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "waiting" and set(first.json()["receipt"]) == {"aggregate", "version", "head", "log"}
    first_id = first.json()["id"]
    waiting = queue(api, "宣传教育部", status="waiting")
    assert [(s["id"], s["district"], s["indicator"], s["evidence"]) for s in waiting] == [
        (first_id, "中山区", "2.1", [f"sha256:{sha}"])]
    assert queue(api, "组织建设部") == []  # not its indicator

    r = api.post("宣传教育部", f"{Y}/submissions/{first_id}/return", {"reason": "缺少会议记录"})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "returned"
    mine = api.get("中山区", f"{Y}/districts/中山区/submissions").json()["submissions"]
    assert [(s["status"], s["returned_reason"], s["returned_by"]["department"]) for s in mine] == [
        ("returned", "缺少会议记录", "宣传教育部")]
    assert queue(api, "宣传教育部", status="waiting") == []
    assert [s["id"] for s in queue(api, "宣传教育部", status="returned")] == [first_id]

    second = api.post("中山区", f"{Y}/districts/中山区/submissions",
                      {"indicator": "2.1", "statement": "补充会议记录", "evidence": [f"sha256:{sha}", "会议记录（纸质）"]})
    assert second.status_code == 201
    second_id = second.json()["id"]
    assert [(s["id"], s["status"]) for s in queue(api, "宣传教育部")] == [(second_id, "waiting")]  # the newest only
    error_of(api.post("宣传教育部", f"{Y}/submissions/{first_id}/return", {"reason": "再退"}), 409)  # superseded

    assert api.post("宣传教育部", f"{Y}/districts/中山区/signoffs", {"indicator": "2.1"}).status_code == 201
    mine = api.get("中山区", f"{Y}/districts/中山区/submissions").json()["submissions"]
    assert [(s["id"], s["status"], s["superseded"]) for s in mine] == [
        (first_id, "returned", True), (second_id, "reviewed", False)]
    assert mine[1]["reviewed_at"] is not None
    assert [s["id"] for s in queue(api, "宣传教育部", status="reviewed", indicator="2.1")] == [second_id]
    assert [e["type"] for e in api.events("中山区")][1:] == [
        "EvidenceUploaded", "MaterialsSubmitted", "SubmissionReturned", "MaterialsSubmitted", "IndicatorSignedOff"]
    # once signed off (核定), neither a new 申报 nor a return
    error_of(api.post("中山区", f"{Y}/districts/中山区/submissions", {"indicator": "2.1", "statement": "再报"}), 409)
    error_of(api.post("宣传教育部", f"{Y}/submissions/{second_id}/return", {"reason": "晚了"}), 409)

    book = load_workbook(io.BytesIO(api.client.get(f"/api{Y}/export.xlsx", headers=api.auth["office"]).content))
    rows = list(book["申报"].iter_rows(values_only=True))
    assert rows[0][:6] == ("被考核单位", "指标", "申报时间", "自评说明", "证明材料", "状态")
    assert [(r[0], r[1], r[3], r[5]) for r in rows[1:]] == [("中山区", "2.1", "已制定年度宣传方案", "已退回"),
                                                          ("中山区", "2.1", "补充会议记录", "已核定")]
    assert "宣传工作方案.pdf" in rows[2][4] and "会议记录（纸质）" in rows[2][4]
    files = list(book["证明材料"].iter_rows(values_only=True))
    assert [(f[0], f[1], f[4]) for f in files[1:]] == [("中山区", "宣传工作方案.pdf", sha)]


def test_who_may_submit_return_and_read(api, year_2018, stored_events):
    before = stored_events()
    error_of(api.post("西岗区", f"{Y}/districts/中山区/submissions", {"indicator": "2.1", "statement": "x"}), 403)
    error_of(api.post("宣传教育部", f"{Y}/districts/中山区/submissions", {"indicator": "2.1", "statement": "x"}), 403)
    error_of(api.post("中山区", f"{Y}/districts/中山区/submissions", {"indicator": "9.9", "statement": "x"}), 422,
             field="indicator")
    error_of(api.post("中山区", f"{Y}/districts/中山区/submissions", {"indicator": "2.1", "statement": " "}), 422,
             field="statement")
    assert stored_events() == before
    sid = api.post("中山区", f"{Y}/districts/中山区/submissions", {"indicator": "8.2", "statement": "按时参会"}).json()["id"]
    before = stored_events()
    for who in ("宣传教育部", "auditor", "中山区"):
        error_of(api.post(who, f"{Y}/submissions/{sid}/return", {"reason": "不是我的"}), 403)
    error_of(api.post("office", f"{Y}/submissions/{sid}/return", {"reason": ""}), 422, field="reason")
    error_of(api.post("office", f"{Y}/submissions/not-an-id/return", {"reason": "x"}), 404)
    assert stored_events() == before
    error_of(api.get("中山区", f"{Y}/submissions"), 403)
    error_of(api.get("西岗区", f"{Y}/districts/中山区/submissions"), 403)
    assert [s["id"] for s in queue(api, "office")] == [sid]  # 8.2 is the office's
    assert [s["id"] for s in queue(api, "auditor")] == [sid]
    error_of(api.get("office", f"{Y}/submissions", status="done"), 422, field="status")
    assert api.post("office", f"{Y}/submissions/{sid}/return", {"reason": "请附签到表"}).status_code == 201
