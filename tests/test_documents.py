"""The 通报 and 扣分明细 PDFs, the bulletin's heading, the official order for ties, and the workbook,
through the HTTP API as the office, the auditor and a district use it."""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pypdf
import pytest
from openpyxl import load_workbook

from tests.conftest import ADMIN, RUBRIC
from tests.test_http_api import error_of

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Not in code-point order (that would be 中山区, 庄河市, 旅顺口区 …): the order the year was opened with.
OFFICIAL = ["庄河市", "中山区", "旅顺口区", "西岗区", "沙河口区", "大连长兴岛经济技术开发区"]
Y = "/years/2018"
EVIL = '=HYPERLINK("http://evil.example/","证明材料")'


@pytest.fixture
def year(app, auth, make_headers):
    """2018 opened with OFFICIAL; 西岗区 and 沙河口区 missed a meeting; 西岗区 has a labelled measure and a
    note that looks like a formula. Tokens for 中山区 and 西岗区 besides the fixture's."""
    app.open_year(ADMIN, year=2018, rubric=RUBRIC, districts=list(OFFICIAL))
    auth["庄河市"] = make_headers("district", district="庄河市")
    return 2018


@pytest.fixture
def played(api, year):
    r = api.post("office", f"{Y}/meetings", {"title": "全市工会工作会议", "held_on": "2018-03-15",
                                             "absent": ["沙河口区", "西岗区"]})
    assert r.status_code == 201, r.text
    r = api.post("宣传教育部", f"{Y}/districts/西岗区/findings",
                 {"clause": "2.1.b", "measures": {"activities": 1}, "note": EVIL, "evidence": [EVIL]})
    assert r.status_code == 201, r.text
    return year


def pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return re.sub(r"\s+", "", "".join(page.extract_text() for page in reader.pages))


def test_ties_follow_the_years_order_in_scores(api, played):
    rows = api.get("auditor", f"{Y}/scores").json()["districts"]
    assert [r["district"] for r in rows] == ["庄河市", "中山区", "旅顺口区", "大连长兴岛经济技术开发区", "沙河口区", "西岗区"]
    assert [r["rank"] for r in rows] == [1, 1, 1, 1, 5, 6]


def test_the_office_sets_the_bulletin_heading_and_the_pdf_carries_every_figure(api, played):
    r = api.post("office", f"{Y}/bulletin", {"number": "大工发〔2019〕3号", "date": "2019-01-20"})
    assert r.status_code == 201, r.text
    heading = r.json()
    assert heading["title"] == "关于2018年度区市县（开放先导区）总工会实绩考核结果的通报"  # the default title
    assert heading["receipt"]["version"] == 1
    r = api.get("auditor", f"{Y}/bulletin.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = pdf_text(r.content)
    assert heading["title"] in text and "大工发〔2019〕3号" in text and "2019年1月20日" in text
    scores = api.get("auditor", f"{Y}/scores").json()["districts"]
    for row in scores:
        assert row["district"] in text and f"{row['total']:.2f}" in text
    assert "99.50" in text and "98.80" in text  # two decimals, as on every page
    # the order of the ranking table: ties in the year's order
    positions = [text.index(name) for name in ("庄河市", "中山区", "旅顺口区", "大连长兴岛经济技术开发区")]
    assert positions == sorted(positions)
    # each district's deductions, measures with their labels, and the checkpoint the figures come from
    assert "8.2.b" in text and "未参加：全市工会工作会议" in text
    assert "开展宣讲、培训、文艺演出等活动项数：1" in text and "activities=" not in text
    events = sum(len(api.events(d)) for d in OFFICIAL)
    assert events < int(re.search(r"日志大小(\d+)", text).group(1))  # ledgers, the year and the meeting
    assert re.search(r"[0-9a-f]{64}", text)


def test_a_revised_heading_is_a_new_event_and_the_same_heading_again_records_nothing(api, played, stored_events):
    first = api.post("office", f"{Y}/bulletin", {"title": "关于考核结果的通报", "number": "1号", "date": "2019-01-20"})
    assert first.status_code == 201
    before = stored_events()
    same = api.post("office", f"{Y}/bulletin", {"title": "关于考核结果的通报", "number": "1号", "date": "2019-01-20"})
    assert same.status_code == 201 and same.json()["receipt"] == first.json()["receipt"]
    assert stored_events() == before
    revised = api.post("admin", f"{Y}/bulletin", {"number": "2号", "date": "2019-01-21"})
    assert revised.json()["receipt"]["version"] == 2 and revised.json()["number"] == "2号"
    assert "2号" in pdf_text(api.get("office", f"{Y}/bulletin.pdf").content)


@pytest.mark.parametrize("body, field", [
    ({"date": "2019-01-20"}, "number"),
    ({"number": "  ", "date": "2019-01-20"}, "number"),
    ({"number": "1号", "date": "2019-13-01"}, "date"),
    ({"number": "1号", "date": "2017-12-31"}, "date"),
    ({"number": "1号\n2号", "date": "2019-01-20"}, "number"),
    ({"number": "1号", "date": "2019-01-20", "title": "长" * 201}, "title"),
])
def test_a_bad_heading_is_refused_naming_the_field(api, year, stored_events, body, field):
    before = stored_events()
    error_of(api.post("office", f"{Y}/bulletin", body), 422, field=field)
    assert stored_events() == before


def test_the_bulletin_is_issued_after_the_year_is_closed_too(api, played):
    assert api.post("admin", f"{Y}/close", {"force": True}).status_code == 200
    closed_root = api.get("auditor", f"{Y}/scores").json()["log"]["root"]  # the final signed checkpoint
    assert api.post("office", f"{Y}/bulletin", {"number": "大工发〔2019〕3号", "date": "2019-01-20"}).status_code == 201
    text = pdf_text(api.get("office", f"{Y}/bulletin.pdf").content)
    assert "考核年度结束时" in text and closed_root in text  # the figures as of the close
    assert api.post("office", f"{Y}/meetings", {"title": "会", "held_on": "2018-12-01", "absent": []}).status_code == 409


def test_a_district_downloads_its_own_statement(api, played):
    r = api.get("西岗区", f"{Y}/districts/西岗区/statement.pdf")
    assert r.status_code == 200
    text = pdf_text(r.content)
    assert "西岗区" in text and "总分98.80" in text and "第" not in text.split("总分98.80")[1][:3]  # no rank
    assert "未按要求派员参加市总活动和会议" in text and "开展宣讲、培训、文艺演出等活动项数：1" in text
    assert re.search(r"[0-9a-f]{64}", text)
    office = pdf_text(api.get("office", f"{Y}/districts/西岗区/statement.pdf").content)
    assert "总分98.80，第6名" in office
    error_of(api.get("中山区", f"{Y}/districts/西岗区/statement.pdf"), 403)
    error_of(api.get("西岗区", f"{Y}/bulletin.pdf"), 403)  # districts read the 通报 with 公示, not before


def test_the_workbook_in_the_official_order_with_real_times_labels_and_no_formulas(api, played):
    r = api.get("office", f"{Y}/export.xlsx")
    workbook = load_workbook(io.BytesIO(r.content))
    assert workbook.sheetnames == ["汇总", "庄河市", "中山区", "旅顺口区", "大连长兴岛经济技术开发区", "沙河口区", "西岗区",
                                   "申报", "证明材料"]
    summary = workbook["汇总"]
    names = [row[1].value for row in summary.iter_rows(min_row=4, max_row=9)]
    assert names == workbook.sheetnames[1:-2]
    assert summary.page_setup.orientation == "landscape" and int(summary.page_setup.paperSize) == 9  # A4
    assert summary.page_setup.fitToWidth == 1 and summary.sheet_properties.pageSetUpPr.fitToPage
    assert summary.print_title_rows == "$1:$3"  # repeated on every page
    values = [c.value for row in summary.iter_rows() for c in row if isinstance(c.value, str)]
    assert any(re.fullmatch(r"[0-9a-f]{64}", v) for v in values)  # the checkpoint (history digest for now)

    sheet = workbook["西岗区"]
    assert sheet.print_title_rows == "$1:$2" and sheet.page_setup.orientation == "landscape"
    audit = {e["data"].get("finding_id"): e for e in api.events("西岗区") if e["type"] == "FindingRecorded"}
    rows = [row for row in sheet.iter_rows(min_row=3) if row[5].value]
    assert len(rows) == 2
    for row in rows:
        recorded = row[9]
        assert recorded.is_date and isinstance(recorded.value, datetime)
        assert recorded.value in {datetime.fromisoformat(e["recorded_at"]).astimezone(SHANGHAI)
                                  .replace(tzinfo=None, microsecond=0) for e in audit.values()}
    meeting = next(row for row in rows if row[5].value == "8.2.b")
    assert meeting[8].is_date and meeting[8].value.date() == date(2018, 3, 15)
    measured = next(row for row in rows if row[5].value == "2.1.b")
    note = measured[11]
    assert note.data_type == "s" and note.value.startswith(EVIL)  # text, never a formula
    assert measured[12].data_type == "s" and measured[12].value == EVIL
    assert "开展宣讲、培训、文艺演出等活动项数：1" in note.value
    for ws in workbook.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                assert not (isinstance(cell.value, str) and re.search(r"\b[a-z_]+=\d", cell.value)), cell.value


def test_every_text_cell_goes_through_write_text_cell(monkeypatch, api, played):
    """A str the workbook writes any other way (ws.append, cell.value = ...) would escape the formula guard."""
    import api.documents.workbook as workbook_module

    seen = []
    original = workbook_module.write_text_cell
    import api.documents.workbook_submissions as cycle_sheets

    for module in (workbook_module, cycle_sheets):  # the 申报 and 证明材料 sheets too
        monkeypatch.setattr(module, "write_text_cell", lambda ws, r, c, v: seen.append((ws.title, r, c)) or
                            original(ws, r, c, v))
    workbook = load_workbook(io.BytesIO(api.get("office", f"{Y}/export.xlsx").content))
    texts = {(ws.title, c.row, c.column) for ws in workbook.worksheets for row in ws.iter_rows() for c in row
             if isinstance(c.value, str)}
    assert texts and texts <= set(seen)
