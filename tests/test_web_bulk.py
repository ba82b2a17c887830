"""The bulk pages through TestClient: a report's and a task's tables saved at once, a clause for every district
previewed then saved, sign-off of many at once, the import page's preview, the meeting void, and the
confirmation step every irreversible action takes."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import Iterator

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from api.asgi import create_app
from api.service import KaoheApp
from domain.actors import Actor
from tests.conftest import DISTRICTS, YEAR
from tests.test_web_pages import Browser, field_error, form_error, total_of

Y = f"/web/{YEAR}"
OFFICE = Actor("fixture-office", "office")
DEPT = "民主管理部"


@pytest.fixture
def browser(app: KaoheApp) -> Iterator[Browser]:
    with TestClient(create_app(app)) as client:
        yield Browser(client, app)


def hidden(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))


def test_the_office_saves_a_reports_submissions_in_one_go(browser, app, year_2018, stored_events):
    report = app.schedule_report(OFFICE, year=YEAR, title="上半年工作总结", due_on="2018-07-10")["id"]
    browser.sign_in("office")
    page = browser.get(f"{Y}/reports").text
    assert page.count('name="on.') == len(DISTRICTS) and "全部按时" in page
    action = f"{Y}/reports/{report}/submissions/batch"
    before = stored_events()
    r = browser.post(action, {"on.中山区": "2018-07-09", "on.西岗区": "2019-07-12", "mode": "dated"})
    assert r.status_code == 422 and "不在 2018 年度内" in field_error(r.text, "on.西岗区")
    assert "整张表都没有保存" in form_error(r.text) and stored_events() == before
    r = browser.post(action, {"on.中山区": "2018-07-09", "on.西岗区": "2018-07-12", "mode": "all_on_time"})
    assert r.status_code == 200 and "报送情况已全部保存" in r.text
    subs = app.workflows(OFFICE, YEAR, "Report")[0]["submissions"]
    assert subs == {"中山区": "2018-07-09", "西岗区": "2018-07-12", "沙河口区": "2018-07-10"}


def test_the_office_saves_a_tasks_outcomes_in_one_go(browser, app, year_2018):
    task = app.assign_task(OFFICE, year=YEAR, title="困难职工慰问", assigned_on="2018-05-01", due_on="2018-05-31",
                           districts=DISTRICTS)["id"]
    browser.sign_in("office")
    r = browser.post(f"{Y}/tasks/{task}/outcomes/batch", {"outcome.中山区": "completed", "outcome.西岗区": "unfinished",
                                                          "note.西岗区": "未按期上报"})
    assert r.status_code == 200 and "任务完成情况已全部保存" in r.text
    assert app.workflows(OFFICE, YEAR, "Task")[0]["outcomes"] == {"中山区": "completed", "西岗区": "unfinished"}
    assert total_of(app, "西岗区") == 99
    assert 'aria-label="沙河口区 已完成"' in r.text  # still open: the table keeps it


def test_a_department_fills_a_clause_for_every_district_previews_then_saves(browser, app, year_2018,
                                                                              stored_events):
    browser.sign_in(DEPT)
    page = browser.get(f"{Y}/clauses/5.4.b").text
    assert all(f'name="m.{d}.enterprise_rate"' in page for d in DISTRICTS)
    typed = {"m.中山区.enterprise_rate": "78", "m.中山区.large_enterprise_rate": "88",
             "m.西岗区.enterprise_rate": "80", "m.西岗区.large_enterprise_rate": "120", "step": "preview"}
    before = stored_events()
    r = browser.post(f"{Y}/clauses/5.4.b", typed)
    assert r.status_code == 422 and "不能超过100%" in field_error(r.text, "m.西岗区.large_enterprise_rate")
    assert 'id="save-table"' not in r.text
    typed["m.西岗区.large_enterprise_rate"] = "90"
    r = browser.post(f"{Y}/clauses/5.4.b", typed)
    assert r.status_code == 200 and 'id="save-table"' in r.text
    shown = dict(re.findall(r'<tr data-district="([^"]+)">.*?class="num preview-deduction">(?:<span class="\w+">'
                            r'([\d.]+)</span>)?', r.text, re.S))
    assert shown == {"中山区": "0.40", "西岗区": "0.00", "沙河口区": ""}  # mean 83 vs 85: 2 steps × 0.2
    assert stored_events() == before  # a preview records nothing
    previewed = hidden(r.text)["previewed"]
    # saving other figures than those previewed shows the preview again instead of saving
    r = browser.post(f"{Y}/clauses/5.4.b", {**typed, "m.中山区.enterprise_rate": "70", "step": "save",
                                            "previewed": previewed})
    assert r.status_code == 200 and stored_events() == before
    r = browser.post(f"{Y}/clauses/5.4.b", {**typed, "step": "save", "previewed": previewed})
    assert r.status_code == 200 and "整张表已保存" in r.text
    assert total_of(app, "中山区") == Decimal("99.6") and total_of(app, "西岗区") == 100
    assert 'data-clause="5.4.b"' in browser.get(f"{Y}/assess").text
    assert browser.get(f"{Y}/clauses/2.2.a").status_code == 403  # another department's clause


def test_sign_off_one_indicator_for_many_districts_and_all_indicators_of_one_district(browser, app, year_2018):
    browser.sign_in("宣传教育部")
    page = browser.get(f"{Y}/signoffs?indicator=2.1").text
    assert page.count('name="pick"') == 3
    r = browser.post(f"{Y}/signoffs?indicator=2.1", {"pick": ["中山区|2.1", "西岗区|2.1"]})
    assert r.status_code == 200 and "所选指标已全部核定" in r.text
    assert [p for p in app.unsigned_pairs(YEAR) if p[1] == "2.1"] == [["沙河口区", "2.1"]]
    page = browser.get(f"{Y}/signoffs?district=沙河口区").text
    assert page.count('name="pick"') == 4  # 2.1–2.4, the department's four indicators
    r = browser.post(f"{Y}/signoffs?district=沙河口区", {"pick": ["沙河口区|2.1", "沙河口区|2.2", "沙河口区|2.3",
                                                             "沙河口区|2.4"]})
    assert "所选指标已全部核定" in r.text
    assert [p for p in app.unsigned_pairs(YEAR) if p[1].startswith("2.") and p[0] == "沙河口区"] == []
    assert browser.get(f"{Y}/signoffs?indicator=5.4").status_code == 403


def test_the_import_page_previews_then_imports(browser, app, year_2018, stored_events):
    browser.sign_in(DEPT)
    page = browser.get(f"{Y}/import").text
    assert f'href="{Y}/indicators/5.4/template.xlsx"' in page
    wb = load_workbook(io.BytesIO(browser.get(f"{Y}/indicators/5.4/template.xlsx").content))
    wb["填报"]["B5"] = "是"
    wb["填报"]["C6"] = 150
    buffer = io.BytesIO()
    wb.save(buffer)
    before = stored_events()
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    r = browser.post(f"{Y}/import", {"step": "preview"}, files={"file": ("a.xlsx", buffer.getvalue(), xlsx)})
    assert r.status_code == 422 and '<td class="cell nowrap">C6</td>' in r.text
    assert 'id="import-confirm"' not in r.text
    wb["填报"]["C6"], wb["填报"]["D6"] = 78, 88
    buffer = io.BytesIO()
    wb.save(buffer)
    r = browser.post(f"{Y}/import", {"step": "preview"}, files={"file": ("a.xlsx", buffer.getvalue(), xlsx)})
    assert r.status_code == 200 and 'id="import-confirm"' in r.text
    assert "已建工会组织企业集体协商建制率 78%" in r.text  # measures shown with their labels
    assert stored_events() == before
    r = browser.post(f"{Y}/import", hidden(r.text[r.text.index('id="import-confirm"'):]))
    assert r.status_code == 200 and "工作簿已导入" in r.text
    assert total_of(app, "中山区") == 99 and total_of(app, "西岗区") == Decimal("99.6")


def test_closing_a_report_asks_for_confirmation_and_says_who_will_lose_points(browser, app, year_2018,
                                                                              stored_events):
    report = app.schedule_report(OFFICE, year=YEAR, title="督察材料", due_on="2018-07-10")["id"]
    app.record_submission(OFFICE, year=YEAR, report_id=report, district="中山区", submitted_on="2018-07-12")
    browser.sign_in("office")
    before = stored_events()
    r = browser.post(f"{Y}/reports/{report}/close", {"_key": "k1"})
    assert r.status_code == 200 and 'id="confirm-form"' in r.text
    assert "中山区：逾期报送" in r.text and "西岗区：未报送" in r.text and "沙河口区：未报送" in r.text
    assert stored_events() == before
    carried = hidden(r.text)
    assert carried.pop("_csrf") and carried == {"_key": "k1", "confirmed": "1"}  # the form's own fields, carried
    r = browser.post(f"{Y}/reports/{report}/close", carried)
    assert "报送事项已截止" in r.text and [total_of(app, d) for d in DISTRICTS] == [Decimal("99.5")] * 3


def test_voiding_a_meeting_on_the_page(browser, app, year_2018):
    meeting = app.hold_meeting(OFFICE, year=YEAR, title="全委会", held_on="2018-03-15", absent=["中山区"])["id"]
    browser.sign_in("office")
    r = browser.post(f"{Y}/meetings/{meeting}/void", {"reason": "录错了会议"})
    assert 'id="confirm-form"' in r.text and "撤销中山区因缺席本会议记的扣分" in r.text
    assert total_of(app, "中山区") == Decimal("99.5")
    r = browser.post(f"{Y}/meetings/{meeting}/void", hidden(r.text) | {"reason": "录错了会议"})
    assert "会议已作废" in r.text and total_of(app, "中山区") == 100
    row = r.text[r.text.index(f'data-meeting="{meeting}"'):]
    row = row[:row.index("</tr>")]
    assert "作废" in row and "中山区（已撤销）" in row and "录错了会议" in row and "void-form" not in row


def test_the_same_meeting_twice_is_refused_on_the_page_until_confirmed(browser, app, year_2018):
    app.hold_meeting(OFFICE, year=YEAR, title="全委会", held_on="2018-03-15", absent=["中山区"])
    browser.sign_in("office")
    typed = {"title": "全委会", "held_on": "2018-03-15", "attend.中山区": "absent"}
    r = browser.post(f"{Y}/meetings", typed)
    assert r.status_code == 409 and "已登记过会议「全委会」" in field_error(r.text, "title")
    assert 'id="allow-duplicate"' in r.text
    assert total_of(app, "中山区") == Decimal("99.5")
    r = browser.post(f"{Y}/meetings", {**typed, "allow_duplicate": "1"})
    assert "会议及点名情况已记录" in r.text and total_of(app, "中山区") == 99


def test_a_retraction_and_a_forced_close_ask_for_confirmation(browser, app, year_2018, stored_events):
    dept = Actor("xc", "department", department="宣传教育部")
    finding = app.record_finding(dept, year=YEAR, district="中山区", clause="2.2.a", note="无典型")["id"]
    browser.sign_in("宣传教育部")
    url = f"{Y}/assess/中山区/2.2/findings/{finding}/retraction"
    r = browser.post(url, {"reason": "误记"})
    assert 'id="confirm-form"' in r.text and "无典型" in r.text and total_of(app, "中山区") == 98
    assert "扣分事项已撤销" in browser.post(url, hidden(r.text) | {"reason": "误记"}).text
    assert total_of(app, "中山区") == 100
    browser.sign_in("admin")
    before = stored_events()
    r = browser.post(f"{Y}/close", {"force": "1"})
    assert 'id="confirm-form"' in r.text and "仍有 90 项" in r.text and not app.year_info(YEAR)["closed"]
    assert stored_events() == before
    r = browser.post(f"{Y}/close", {"force": "1", "confirmed": "1"})
    assert "考核年度已结束" in r.text and app.year_info(YEAR)["closed"]
