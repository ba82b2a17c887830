"""An indicator's fill-in workbook over HTTP: the template, the dry run (what each row would record and deduct),
errors with their cell, and the real import (every row in one transaction or nothing, the workbook as evidence)."""

from __future__ import annotations

import hashlib
import io

import pytest
from openpyxl import load_workbook

from tests.conftest import DISTRICTS, YEAR
from tests.test_http_api import error_of

Y = f"/years/{YEAR}"
DEPT = "民主管理部"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def dept(auth, make_headers) -> str:
    auth[DEPT] = make_headers("department", department=DEPT)
    return DEPT


def template(api, who: str, indicator: str = "5.4"):
    r = api.client.get(f"/api{Y}/indicators/{indicator}/template.xlsx", headers=api.headers(who))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX
    return load_workbook(io.BytesIO(r.content))


def saved(wb) -> bytes:
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def upload(api, who: str, wb, dry_run: bool, key: str | None = None):
    data = wb if isinstance(wb, bytes) else saved(wb)  # each save differs (it stamps the time): keep the bytes
    r = api.client.post(f"/api{Y}/imports", params={"dry_run": "true"} if dry_run else {},
                        headers=api.headers(who, key), files={"file": ("5.4.xlsx", data, XLSX)})
    return r, data


def test_the_template_has_a_row_per_district_and_a_column_per_measure(api, dept, year_2018):
    ws = template(api, dept)["填报"]
    assert [ws.cell(row=r, column=1).value for r in range(5, 5 + len(DISTRICTS))] == DISTRICTS
    keys = [c.value for c in ws[4][1:]]
    assert keys == ["5.4.a:flag", "5.4.b:enterprise_rate", "5.4.b:large_enterprise_rate", "5.4.c:industry",
                    "5.4.c:enterprise", "5.4.c:region", "5.4.d:rate", "note"]
    assert ws.row_dimensions[4].hidden
    assert ws["C2"].value.startswith("5.4.b 已建工会组织企业集体协商建制率动态保持在80%以上")  # the clause's text
    assert "目标 80%" in ws["C3"].value and "%" in ws["C3"].value and "要求 2 个" in ws["E3"].value
    ranges = {str(dv.sqref): (dv.type, dv.formula1, dv.formula2, dv.error) for dv in ws.data_validations.dataValidation}
    assert ranges["C5:C7 D5:D7 H5:H7"] == ("decimal", "0", "100", "必须是 0–100 的数")
    assert ranges["E5:E7 F5:F7 G5:G7"][0] == "whole"
    assert ranges["B5:B7"][0] == "list"
    # out of scope: 403; an unknown indicator: 404
    error_of(api.client.get(f"/api{Y}/indicators/5.4/template.xlsx", headers=api.headers("宣传教育部")), 403)
    error_of(api.client.get(f"/api{Y}/indicators/9.9/template.xlsx", headers=api.headers(dept)), 404)


def test_a_dry_run_changes_nothing_and_shows_what_the_import_then_records(api, dept, year_2018, stored_events):
    wb = template(api, dept)
    ws = wb["填报"]
    ws["B5"] = "是"  # 中山区 5.4.a: 1 point
    ws["C6"], ws["D6"] = 78, 88  # 西岗区 5.4.b: mean 83 against 85, 2 full steps × 0.2 = 0.4
    ws["H7"] = 79.5  # 沙河口区 5.4.d: 20.5 short of 100%, 4 full steps of 5% × 0.1 = 0.4
    ws["I7"] = "台账抽查"
    data = saved(wb)
    before = stored_events()
    r, _ = upload(api, dept, data, dry_run=True)
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["errors"] == [] and preview["dry_run"] is True
    assert [(x["row"], x["district"], x["clause"], x["deduction"]) for x in preview["rows"]] == [
        (5, "中山区", "5.4.a", 1), (6, "西岗区", "5.4.b", 0.4), (7, "沙河口区", "5.4.d", 0.4)]
    assert preview["rows"][1]["measures"] == {"enterprise_rate": "78", "large_enterprise_rate": "88"}
    assert stored_events() == before
    assert api.totals() == {d: 100 for d in DISTRICTS}

    r, _ = upload(api, dept, data, dry_run=False, key="import-1")
    assert r.status_code == 201, r.text
    recorded = r.json()
    assert [(x["row"], x["district"], x["clause"], x["deduction"]) for x in recorded["rows"]] == \
        [(x["row"], x["district"], x["clause"], x["deduction"]) for x in preview["rows"]]
    assert api.totals() == {"中山区": 99, "西岗区": 99.6, "沙河口区": 99.6}
    proof = f"sha256:{hashlib.sha256(data).hexdigest()}"
    assert recorded["evidence"] == proof
    events = [e for d in DISTRICTS for e in api.events(d) if e["type"] == "FindingRecorded"]
    assert len(events) == 3 and all(e["data"]["evidence"] == [proof] for e in events)
    assert [e["data"]["note"] for e in events] == [None, None, "台账抽查"]
    assert {x["receipt"]["head"] for x in recorded["rows"]} == {e["hash"] for e in events}
    # The workbook is kept as a 证明材料 file of each district it recorded for: the same bytes come back.
    kept = api.client.get(f"/api{Y}/districts/西岗区/evidence/{hashlib.sha256(data).hexdigest()}",
                          headers=api.headers("西岗区"))
    assert kept.status_code == 200 and kept.content == data
    count = stored_events()
    again, _ = upload(api, dept, data, dry_run=False, key="import-1")
    assert again.status_code == 201 and again.json() == recorded and stored_events() == count


def test_a_bad_cell_is_reported_with_its_reference_and_nothing_is_recorded(api, dept, year_2018, stored_events):
    wb = template(api, dept)
    ws = wb["填报"]
    ws["B5"] = "是"
    ws["C5"] = 120  # a rate over 100 (Excel's own validation bypassed)
    ws["D5"] = 90
    ws["E6"] = "两个"  # not a number
    ws["F6"], ws["G6"] = 2, 1
    ws["B7"] = "有"  # neither 是 nor 否
    ws["A8"], ws["B8"] = "朝阳区", "是"  # not a district of the year
    before = stored_events()
    r, _ = upload(api, dept, wb, dry_run=True)
    assert r.status_code == 200
    errors = {e["cell"]: e["message"] for e in r.json()["errors"]}
    assert errors["C5"].startswith("必须是 0–100 的数")
    assert errors["E6"].startswith("必须是不小于 0 的整数")
    assert "是" in errors["B7"] and "朝阳区" in errors["A8"]
    assert [x["clause"] for x in r.json()["rows"]] == ["5.4.a"]  # the good row is still previewed
    error = error_of(upload(api, dept, wb, dry_run=False)[0], 422, field="file", code="import_refused")
    assert "C5" in error["message"]
    assert {e["cell"] for e in error["details"]["errors"]} == set(errors)
    assert stored_events() == before
    assert api.totals() == {d: 100 for d in DISTRICTS}


def test_an_import_out_of_scope_or_not_a_template_is_refused(api, dept, year_2018, stored_events):
    wb = template(api, dept)
    wb["填报"]["B5"] = "是"
    before = stored_events()
    error_of(upload(api, "宣传教育部", wb, dry_run=True)[0], 403)
    r = api.client.post(f"/api{Y}/imports", params={"dry_run": "true"}, headers=api.headers(dept),
                        files={"file": ("x.xlsx", b"not a workbook", XLSX)})
    assert r.status_code == 200 and r.json()["errors"][0]["cell"] == "A1" and r.json()["rows"] == []
    error_of(api.client.post(f"/api{Y}/imports", headers=api.headers(dept)), 422, field="file")
    assert stored_events() == before


def test_only_a_responsible_writer_imports_and_a_retry_with_its_key_records_once(api, dept, year_2018,
                                                                                stored_events):
    wb = template(api, dept)
    wb["填报"]["B5"] = "是"
    data = saved(wb)
    before = stored_events()
    for who in ("office", "auditor", "宣传教育部", "中山区"):
        for dry_run in (True, False):
            error_of(upload(api, who, data, dry_run=dry_run)[0], 403, code="forbidden")
    assert stored_events() == before
    first, _ = upload(api, "admin", data, dry_run=False, key="k")
    assert first.status_code == 201 and "Idempotent-Replay" not in first.headers
    recorded = stored_events()
    again, _ = upload(api, "admin", data, dry_run=False, key="k")
    assert again.json() == first.json() and again.headers["Idempotent-Replay"] == "true"
    wb["填报"]["B6"] = "是"
    error_of(upload(api, "admin", wb, dry_run=False, key="k")[0], 422, code="idempotency_key_reused")
    assert stored_events() == recorded and api.totals()["中山区"] == 99
