"""The web pages (api/web/) through TestClient: sign-in and out, each role's pages, forms that post,
refusals shown next to the field with what was typed kept, and the 403 page."""

from __future__ import annotations

import html
import re
from decimal import Decimal
from typing import Iterator

import pytest
from fastapi.testclient import TestClient

from api import web
from api.service import sessions
from api.asgi import create_app
from api.service import KaoheApp, tokens
from api.web import frame
from domain.actors import Actor
from tests.conftest import DISTRICTS, YEAR

Y = f"/web/{YEAR}"
SAME_ORIGIN = {"Origin": "http://testserver"}  # what a browser sends with a form from our own page
OFFICE = Actor("fixture-office", "office")
AUDITOR = Actor("fixture-auditor", "auditor")


class Browser:
    """A TestClient with a cookie jar, signed in as one actor at a time."""

    def __init__(self, client: TestClient, app: KaoheApp):
        self.client = client
        self.app = app
        self.tokens: dict[str, str] = {}

    def token(self, who: str) -> str:
        if who not in self.tokens:
            if who in ("office", "auditor", "admin"):
                self.tokens[who] = tokens.create_token(self.app.views, who, who)
            elif who in DISTRICTS:
                self.tokens[who] = tokens.create_token(self.app.views, f"{who}总工会", "district", district=who)
            else:
                self.tokens[who] = tokens.create_token(self.app.views, who, "department", department=who)
        return self.tokens[who]

    def sign_in(self, who: str):
        self.client.cookies.clear()
        r = self.client.post("/signin", data={"token": self.token(who)}, headers=SAME_ORIGIN, follow_redirects=False)
        assert r.status_code == 303, r.text
        return r

    def get(self, path: str, **kwargs):
        self.app.fresh()  # as Api.get (tests.conftest): another user's page comes once the views show every write
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict | None = None, **kwargs):
        """A form post as our own page sends it: from our origin, with the session's CSRF token."""
        self.app.fresh()  # the form was filled on a page that showed every write so far (see get)
        data = {"_csrf": sessions.csrf_token(self.client.cookies.get(frame.COOKIE)), **(data or {})}
        return self.client.post(path, data=data, headers={**SAME_ORIGIN, **kwargs.pop("headers", {})}, **kwargs)


@pytest.fixture
def browser(app: KaoheApp) -> Iterator[Browser]:
    api = create_app(app)
    if not any(getattr(route, "path", None) == "/signin" for route in api.routes):
        api.include_router(web.router)
    with TestClient(api) as client:
        yield Browser(client, app)


def field_error(page: str, field: str) -> str | None:
    m = re.search(rf'<span class="field-error" data-field="{re.escape(field)}">(.*?)</span>', page, re.S)
    return html.unescape(m.group(1)) if m else None


def form_error(page: str) -> str | None:
    m = re.search(r'<div class="form-error" role="alert">(.*?)</div>', page, re.S)
    return html.unescape(m.group(1)) if m else None


def input_value(page: str, name: str) -> str | None:
    m = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', page)
    return html.unescape(m.group(1)) if m else None


def checked(page: str, name: str) -> list[str]:
    return re.findall(rf'<input type="(?:radio|checkbox)" name="{re.escape(name)}" value="([^"]*)"[^>]*checked', page)


def total_of(app: KaoheApp, district: str) -> Decimal:
    return Decimal(app.district_score(AUDITOR, YEAR, district)["total"])


def clause_form(page: str, clause: str) -> str:
    start = page.index(f'data-clause="{clause}">')
    return page[start:page.index("</form>", start)]


# --- sign-in and out ------------------------------------------------------------------------

def test_sign_in_page_and_an_unknown_token(browser):
    page = browser.get("/")
    assert page.status_code == 200 and "访问令牌" in page.text and 'lang="zh-CN"' in page.text
    r = browser.post("/signin", {"token": "not-a-token"})
    assert r.status_code == 401
    assert field_error(r.text, "token") == "访问令牌无效，请检查后重试"
    assert "not-a-token" not in r.text  # a typed token is never sent back in a page
    assert frame.COOKIE not in r.cookies


def test_sign_in_keeps_a_session_id_in_an_http_only_strict_cookie_and_sign_out_ends_it(browser, year_2018):
    token = browser.token("office")
    r = browser.client.post("/signin", data={"token": token}, headers=SAME_ORIGIN, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/web"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{frame.COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "expires" not in cookie.lower() and "max-age" not in cookie.lower()  # a session cookie
    assert "secure" not in cookie.lower()  # plain http here; see test_security_sessions for https
    session_id = browser.client.cookies.get(frame.COOKIE)
    assert session_id and token not in cookie
    home = browser.get("/web", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == f"{Y}/meetings"
    out = browser.post("/signout", follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/"
    assert "Max-Age=0" in out.headers["set-cookie"]
    browser.client.cookies.clear()
    again = browser.get(f"{Y}/meetings", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == f"/?next={Y}/meetings"
    # the old cookie, presented again after sign-out, is refused: the session ended on the server
    browser.client.cookies.set(frame.COOKIE, session_id)
    stale = browser.client.get(f"{Y}/meetings", follow_redirects=False)
    assert stale.status_code == 303 and stale.headers["location"] == f"/?next={Y}/meetings"
    browser.client.cookies.clear()
    back = browser.client.post("/signin", data={"token": token, "next": f"{Y}/tasks"}, headers=SAME_ORIGIN,
                               follow_redirects=False)
    assert back.headers["location"] == f"{Y}/tasks"


def test_an_unknown_year_or_district_shows_a_not_found_page(browser, year_2018):
    browser.sign_in("auditor")
    for path in ("/web/2019/ranking", f"{Y}/districts/金州区"):
        r = browser.get(path)
        assert r.status_code == 404 and "未找到（404）" in r.text


def test_each_role_lands_on_its_page(browser, year_2018):
    landings = {"office": f"{Y}/meetings", "宣传教育部": f"{Y}/assess", "auditor": f"{Y}/ranking",
                "admin": f"{Y}/ranking", "中山区": f"{Y}/districts/%E4%B8%AD%E5%B1%B1%E5%8C%BA"}
    for who, landing in landings.items():
        browser.sign_in(who)
        r = browser.get("/web", follow_redirects=False)
        assert r.headers["location"] == landing, who
        assert browser.get(landing).status_code == 200


def test_the_stylesheet_is_served_by_the_app(browser):
    r = browser.get("/static/kaohe.css")
    assert r.status_code == 200 and "text/css" in r.headers["content-type"]
    assert browser.get("/static/..%2Fweb.py").status_code == 404


# --- admin: years -------------------------------------------------------------------------------

def test_without_a_year_the_admin_opens_one_and_errors_keep_what_was_typed(browser, app):
    browser.sign_in("admin")
    form = browser.get("/web")
    assert form.url.path == "/web/years" and "开启考核年度" in form.text
    assert '<option value="dalian-2018" selected>' in form.text  # the rubric is chosen from a list
    r = browser.post("/web/years", {"year": "2018", "rubric": "dalian-2018", "districts": "  \n "})
    assert r.status_code == 422
    assert "每行一个" in field_error(r.text, "districts")
    assert input_value(r.text, "year") == "2018"
    r = browser.post("/web/years", {"year": "2018", "rubric": "no-such-rubric", "districts": "中山区\n西岗区"})
    assert r.status_code == 422 and field_error(r.text, "rubric")
    assert "中山区\n西岗区</textarea>" in r.text
    r = browser.post("/web/years", {"year": "2018", "rubric": "dalian-2018", "districts": "中山区\n西岗区\n"})
    assert r.status_code == 200 and r.url.path == f"{Y}/ranking" and "考核年度已开启" in r.text
    assert app.year_info(YEAR)["districts"] == ["中山区", "西岗区"]


def test_without_a_year_other_roles_are_told_to_ask_the_admin(browser):
    browser.sign_in("office")
    r = browser.get("/web")
    assert r.status_code == 200 and "尚未开启考核年度" in r.text


# --- office: meetings, reports, tasks ------------------------------------------------------------

def test_the_roll_call_lists_every_district_present_by_default(browser, year_2018):
    browser.sign_in("office")
    page = browser.get(f"{Y}/meetings").text
    for d in DISTRICTS:
        assert checked(page, f"attend.{d}") == ["present"]
        for choice in ("absent", "excused"):
            assert f'name="attend.{d}" value="{choice}"' in page


def test_the_office_logs_a_meeting_with_an_absent_and_an_excused_district(browser, app, year_2018):
    browser.sign_in("office")
    r = browser.post(f"{Y}/meetings", {"title": "全委会", "held_on": "2018-03-15", "attend.中山区": "absent",
                                       "attend.西岗区": "excused", "attend.沙河口区": "present"})
    assert r.status_code == 200 and r.url.path == f"{Y}/meetings" and "会议及点名情况已记录" in r.text
    listed = r.text[r.text.index('id="meeting-list"'):]
    assert "全委会" in listed and "2018-03-15" in listed and "中山区" in listed and "西岗区" in listed
    assert [total_of(app, d) for d in DISTRICTS] == [Decimal("99.5"), 100, 100]


def test_a_refused_meeting_shows_the_error_next_to_the_field_and_keeps_the_roll_call(browser, app, year_2018):
    browser.sign_in("office")
    typed = {"title": "劳模表彰大会", "held_on": "", "note": "会前通知", "attend.中山区": "absent",
             "attend.西岗区": "excused"}
    r = browser.post(f"{Y}/meetings", typed)
    assert r.status_code == 422
    assert field_error(r.text, "held_on").startswith("召开日期 必填")
    assert input_value(r.text, "title") == "劳模表彰大会" and input_value(r.text, "note") == "会前通知"
    assert checked(r.text, "attend.中山区") == ["absent"] and checked(r.text, "attend.西岗区") == ["excused"]
    assert checked(r.text, "attend.沙河口区") == ["present"]
    r = browser.post(f"{Y}/meetings", {**typed, "held_on": "2019-01-02"})
    assert r.status_code == 422 and "不在 2018 年度内" in field_error(r.text, "held_on")
    assert app.workflows(OFFICE, YEAR, "Meeting") == []


def test_a_form_sent_twice_records_once(browser, app, year_2018):
    browser.sign_in("office")
    key = re.search(r'name="_key" value="([0-9a-f]+)"', browser.get(f"{Y}/meetings").text).group(1)
    body = {"_key": key, "title": "全委会", "held_on": "2018-03-15", "attend.中山区": "absent"}
    assert browser.post(f"{Y}/meetings", body).status_code == 200
    assert browser.post(f"{Y}/meetings", body).status_code == 200
    assert len(app.workflows(OFFICE, YEAR, "Meeting")) == 1
    assert total_of(app, "中山区") == Decimal("99.5")


def test_reports_due_dates_submissions_and_closing(browser, app, year_2018):
    browser.sign_in("office")
    r = browser.post(f"{Y}/reports", {"title": "上半年工作总结", "due_on": "2018-07-10"})
    assert "报送事项已创建" in r.text and "截止 2018-07-10" in r.text
    report_id = app.workflows(OFFICE, YEAR, "Report")[0]["id"]
    action = f"{Y}/reports/{report_id}/submissions/batch"  # the report's table, saved at once
    r = browser.post(action, {"mode": "dated"})
    assert r.status_code == 422 and "请至少填写一个单位的报送日期" in field_error(r.text, "on")
    r = browser.post(action, {"on.中山区": "2018-07-09", "on.西岗区": "07/12/2018", "mode": "dated"})
    assert r.status_code == 422 and field_error(r.text, "on.西岗区").startswith("报送日期 日期格式错误")
    assert input_value(r.text, "on.中山区") == "2018-07-09"
    r = browser.post(action, {"on.中山区": "2018-07-09", "on.西岗区": "2018-07-12", "mode": "dated"})
    section = r.text[r.text.index(f'id="report-{report_id}"'):]
    assert "按时" in section and "逾期" in section and "待报送" in section
    r = browser.post(f"{Y}/reports/{report_id}/close", {"confirmed": "1"})
    assert "报送事项已截止" in r.text and "未报送" in r.text
    assert [total_of(app, d) for d in DISTRICTS] == [100, Decimal("99.5"), Decimal("99.5")]


def test_temporary_tasks_and_outcomes(browser, app, year_2018):
    browser.sign_in("office")
    typed = {"title": "困难职工慰问", "assigned_on": "2018-05-10", "due_on": "2018-05-01",
             "districts": ["中山区", "沙河口区"]}
    r = browser.post(f"{Y}/tasks", typed)
    assert r.status_code == 422 and field_error(r.text, "due_on").startswith("截止日期 不能早于")
    assert input_value(r.text, "title") == "困难职工慰问"
    assert checked(r.text, "districts") == ["中山区", "沙河口区"]
    r = browser.post(f"{Y}/tasks", {**typed, "due_on": "2018-05-31"})
    assert "临时交办任务已创建" in r.text
    task_id = app.workflows(OFFICE, YEAR, "Task")[0]["id"]
    action = f"{Y}/tasks/{task_id}/outcomes/batch"  # the task's table, saved at once
    r = browser.post(action, {"note.中山区": "未按期"})
    assert r.status_code == 422 and field_error(r.text, "outcome")
    assert input_value(r.text, "note.中山区") == "未按期"
    r = browser.post(action, {"outcome.中山区": "unfinished", "note.中山区": "未按期", "outcome.沙河口区": "completed"})
    section = r.text[r.text.index(f'id="task-{task_id}"'):]
    assert "未完成（扣 1 分）" in section and "已完成" in section
    assert total_of(app, "中山区") == 99 and total_of(app, "沙河口区") == 100


# --- a district: breakdown, dispute, history, receipts; the office resolves --------------------------

def test_a_district_disputes_a_deduction_and_the_office_overturns_it(browser, app, year_2018):
    meeting = app.hold_meeting(OFFICE, year=YEAR, title="全委会", held_on="2018-03-15", absent=["中山区"])
    finding = meeting["findings"][0]["id"]
    browser.sign_in("中山区")
    page = browser.get(f"{Y}/districts/中山区").text
    assert '<span class="num big" id="total">99.50</span>' in page
    assert '<td class="num">0.50</td>' in page  # the clause's deduction, right-aligned, 2 decimals
    assert "未参加：全委会" in page and "8.2.b" in page
    dispute_url = f"{Y}/districts/%E4%B8%AD%E5%B1%B1%E5%8C%BA/findings/{finding}/dispute"
    assert dispute_url in page and ">申诉</a>" in page

    form = browser.get(f"{Y}/districts/中山区/findings/{finding}/dispute").text
    assert "按要求派员参加市总各项活动和会议" in form  # the clause's seed wording
    r = browser.post(f"{Y}/districts/中山区/findings/{finding}/dispute", {"statement": " ", "evidence": "请假条"})
    assert r.status_code == 422 and field_error(r.text, "statement") == "申诉理由 不能为空"
    assert "请假条</textarea>" in r.text
    r = browser.post(f"{Y}/districts/中山区/findings/{finding}/dispute",
                     {"statement": "会前已请假", "evidence": "请假条\n签批单"})
    assert r.status_code == 200 and "申诉已提交" in r.text
    receipt = re.search(r'回执：<code class="hash">([0-9a-f]{64})</code>', r.text).group(1)
    assert "申诉待处理" in r.text and ">申诉</a>" not in r.text
    assert app.audit(AUDITOR, YEAR, "中山区")[-1]["hash"] == receipt

    browser.sign_in("office")
    queue = browser.get(f"{Y}/disputes").text
    assert "会前已请假" in queue and "请假条、签批单" in queue and "未参加：全委会" in queue
    dispute = app.disputes(OFFICE, YEAR)[0]["id"]
    r = browser.post(f"{Y}/disputes/{dispute}/resolution", {"decision": "overturned", "reason": ""})
    assert r.status_code == 422 and field_error(r.text, "reason") == "理由 不能为空"
    r = browser.post(f"{Y}/disputes/{dispute}/resolution", {"decision": "", "reason": "已核实"})
    assert r.status_code == 422 and field_error(r.text, "decision")
    assert input_value(r.text, "reason") == "已核实"
    r = browser.post(f"{Y}/disputes/{dispute}/resolution", {"decision": "overturned", "reason": "已核实请假"})
    assert "申诉已处理" in r.text and "没有待处理的申诉" in r.text
    assert "已撤销扣分" in browser.get(f"{Y}/disputes?show=all").text

    browser.sign_in("中山区")
    page = browser.get(f"{Y}/districts/中山区").text
    assert 'id="total">100.00<' in page and "申诉后撤销" in page and "已核实请假" in page
    mine = browser.get(f"{Y}/disputes?show=all").text
    assert "我的申诉" in mine and "已撤销扣分" in mine and "<button" not in mine.split("</header>")[1]


def test_a_district_reads_its_history_and_checks_its_receipts(browser, app, year_2018):
    app.hold_meeting(OFFICE, year=YEAR, title="全委会", held_on="2018-03-15", absent=["中山区"], excused=[])
    events = app.audit(AUDITOR, YEAR, "中山区")
    browser.sign_in("中山区")
    history = browser.get(f"{Y}/districts/中山区/history").text
    assert "开启考核台账" in history and "记录扣分事项" in history and "未参加：全委会" in history
    assert all(f'title="{e["hash"]}"' in history for e in events)
    receipts = browser.get(f"{Y}/districts/中山区/receipts").text
    assert f'<code class="hash" id="head">{events[-1]["hash"]}</code>' in receipts
    good = browser.get(f"{Y}/districts/中山区/receipts", params={"check": events[0]["hash"]}).text
    assert "回执有效" in good and "第 1 个事件" in good
    bad = browser.get(f"{Y}/districts/中山区/receipts", params={"check": "0" * 64}).text
    assert "未在本单位历史中找到此回执" in bad


@pytest.mark.parametrize("path", [f"{Y}/districts/西岗区", f"{Y}/districts/西岗区/history",
                                  f"{Y}/districts/西岗区/receipts", f"{Y}/meetings", f"{Y}/ranking",
                                  f"{Y}/assess", f"{Y}/export.xlsx"])
def test_a_district_cannot_see_another_districts_pages_or_the_offices(browser, year_2018, path):
    browser.sign_in("中山区")
    r = browser.get(path)
    assert r.status_code == 403
    assert "无权访问（403）" in r.text and "text/html" in r.headers["content-type"]


def test_a_district_cannot_dispute_another_districts_finding(browser, app, year_2018):
    finding = app.hold_meeting(OFFICE, year=YEAR, title="会", held_on="2018-03-15", absent=["西岗区"])["findings"][0]
    browser.sign_in("中山区")
    r = browser.post(f"{Y}/districts/西岗区/findings/{finding['id']}/dispute", {"statement": "不服"})
    assert r.status_code == 403 and "无权访问" in r.text
    assert app.disputes(OFFICE, YEAR) == []


# --- departments -----------------------------------------------------------------------------------

def test_a_department_sees_only_its_own_indicators(browser, year_2018):
    browser.sign_in("宣传教育部")
    page = browser.get(f"{Y}/assess").text
    assert re.findall(r'data-indicator="([^"]+)"', page) == ["2.1", "2.2", "2.3", "2.4"]
    assert page.count('<td class="num"><a href=') == 4 * len(DISTRICTS)
    nav = page.split("</nav>")[0]
    assert "会议点名" not in nav and "申诉处理" in nav and "成绩排名" in nav


def test_each_clause_form_asks_for_exactly_the_facts_it_takes(browser, year_2018):
    browser.sign_in("民主管理部")
    page = browser.get(f"{Y}/assess/中山区/5.4").text
    assert "已建工会组织企业集体协商建制率动态保持在80%以上2分" in page  # 5.4.b's seed wording
    rates = clause_form(page, "5.4.b")
    assert re.findall(r'name="(measures\.[^"]+)"', rates) == ["measures.enterprise_rate",
                                                              "measures.large_enterprise_rate"]
    assert "已建工会组织企业集体协商建制率（百分比 %，目标 80%）" in rates and "occurred_on" not in rates
    slots = clause_form(page, "5.4.c")
    assert re.findall(r'name="(measures\.[^"]+)"', slots) == ["measures.industry", "measures.enterprise",
                                                              "measures.region"]
    assert "行业集体协商典型个数（个数，要求 2 个）" in slots
    flag = clause_form(page, "5.4.a")
    assert "measures." not in flag and "occurred_on" not in flag
    for form in (rates, slots, flag):
        assert 'name="note"' in form and 'name="evidence"' in form
    browser.sign_in("office")
    occurrence = clause_form(browser.get(f"{Y}/assess/中山区/8.2").text, "8.2.b")
    assert 'name="occurred_on" type="date"' in occurrence and "measures." not in occurrence


def test_a_department_records_a_measurement_retracts_it_and_signs_off(browser, app, year_2018):
    browser.sign_in("民主管理部")
    url = f"{Y}/assess/中山区/5.4"
    typed = {"clause": "5.4.b", "measures.enterprise_rate": "七十", "measures.large_enterprise_rate": "88",
             "note": "抽查", "evidence": "台账2018"}
    r = browser.post(f"{url}/findings", typed)
    assert r.status_code == 422
    assert field_error(r.text, "measures.enterprise_rate") == "已建工会组织企业集体协商建制率 必须是数字"
    form = clause_form(r.text, "5.4.b")
    assert input_value(form, "measures.enterprise_rate") == "七十"
    assert input_value(form, "measures.large_enterprise_rate") == "88" and input_value(form, "note") == "抽查"
    assert "台账2018</textarea>" in form
    assert input_value(clause_form(r.text, "5.4.d"), "note") == ""  # other clauses' forms stay blank
    r = browser.post(f"{url}/findings", {**typed, "measures.enterprise_rate": ""})
    assert r.status_code == 422 and "缺少数值项" in field_error(r.text, "measures.enterprise_rate")
    r = browser.post(f"{url}/findings", {**typed, "measures.enterprise_rate": "78"})
    assert r.status_code == 200 and "扣分事项已记录" in r.text
    assert total_of(app, "中山区") == Decimal("99.6")  # mean 83 against 85: 2 full steps × 0.2
    assert "已建工会组织企业集体协商建制率：78%" in r.text
    finding = app.district_score(AUDITOR, YEAR, "中山区")["categories"][4]["indicators"][3]["clauses"][1]["findings"][0]
    r = browser.post(f"{url}/findings/{finding['id']}/retraction", {"reason": ""})
    assert r.status_code == 422 and field_error(r.text, "reason") == "理由 不能为空"
    r = browser.post(f"{url}/findings/{finding['id']}/retraction", {"reason": "数据有误", "confirmed": "1"})
    assert "扣分事项已撤销" in r.text and total_of(app, "中山区") == 100
    r = browser.post(f"{url}/signoff", {"note": "已核"})
    assert "指标已核定" in r.text and 'id="signoff-form"' not in r.text
    assert ["中山区", "5.4"] not in app.unsigned_pairs(YEAR)


def test_a_department_cannot_record_on_another_departments_indicator(browser, app, year_2018):
    browser.sign_in("宣传教育部")
    r = browser.get(f"{Y}/assess/中山区/5.4")
    assert r.status_code == 403 and "不是指标 5.4（集体协商）的责任部门" in r.text
    r = browser.post(f"{Y}/assess/中山区/5.4/findings", {"clause": "5.4.a"})
    assert r.status_code == 403
    assert total_of(app, "中山区") == 100


def test_a_department_sees_and_resolves_the_disputes_on_its_indicators(browser, app, year_2018):
    dept = Actor("xc", "department", department="宣传教育部")
    finding = app.record_finding(dept, year=YEAR, district="西岗区", clause="2.2.a", note="无典型")["id"]
    app.file_dispute(Actor("xg", "district", district="西岗区"), year=YEAR, finding_id=finding, statement="有典型")
    browser.sign_in("组织建设部")
    assert "没有待处理的申诉" in browser.get(f"{Y}/disputes").text
    browser.sign_in("宣传教育部")
    page = browser.get(f"{Y}/disputes").text
    assert "有典型" in page and "无典型" in page
    dispute = app.disputes(dept, YEAR)[0]["id"]
    r = browser.post(f"{Y}/disputes/{dispute}/resolution", {"decision": "upheld", "reason": "材料不足"})
    assert "申诉已处理" in r.text and total_of(app, "西岗区") == 98  # 2.2.a takes the 2 points


# --- auditor and admin ------------------------------------------------------------------------------

def test_the_auditor_reads_the_ranking_verifies_and_downloads_the_workbook(browser, app, year_2018):
    app.hold_meeting(OFFICE, year=YEAR, title="全委会", held_on="2018-03-15", absent=["中山区"])
    browser.sign_in("auditor")
    page = browser.get(f"{Y}/ranking").text
    rows = re.findall(r'<tr data-district="([^"]+)"><td class="num">(\d+)</td>', page)
    assert rows == [("西岗区", "1"), ("沙河口区", "1"), ("中山区", "3")]  # ties in the year's order, not by name
    assert '<td class="num total">99.50</td>' in page and '<td class="num total">100.00</td>' in page
    assert f'href="{Y}/export.xlsx"' in page
    verify = browser.get(f"{Y}/verify").text
    assert "校验通过" in verify and app.verify(YEAR)["head"] in verify
    workbook = browser.get(f"{Y}/export.xlsx")
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"
    assert workbook.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "kaohe-2018.xlsx" in workbook.headers["content-disposition"]
    assert browser.get(f"{Y}/districts/中山区").status_code == 200
    meetings = browser.get(f"{Y}/meetings")  # the auditor reads every register, and writes nothing
    assert meetings.status_code == 200 and "全委会" in meetings.text and 'id="meeting-form"' not in meetings.text
    assert browser.get(f"{Y}/close").status_code == 403
    assert browser.post(f"{Y}/close", {"force": "1"}).status_code == 403
    assert not app.year_info(YEAR)["closed"]


def test_the_office_downloads_the_workbook_but_cannot_verify_or_close(browser, year_2018):
    browser.sign_in("office")
    assert browser.get(f"{Y}/export.xlsx").content[:2] == b"PK"
    assert browser.get(f"{Y}/verify").status_code == 403
    assert browser.get(f"{Y}/close").status_code == 403


def test_the_admin_closes_the_year_only_with_force_while_indicators_are_unsigned(browser, app, year_2018):
    browser.sign_in("admin")
    page = browser.get(f"{Y}/close").text
    assert "<strong>90</strong>" in page  # 3 districts × 30 indicators
    r = browser.post(f"{Y}/close", {"note": "年终"})
    assert r.status_code == 409 and "还有 90 项指标未核定" in form_error(r.text)
    unsigned = r.text[r.text.index('id="unsigned-list"'):]
    # by indicator, with its name and 责任部门, and the districts still waiting
    assert ('<tr data-indicator="8.2"><td class="nowrap">8.2 督查工作</td><td>办公室</td>'
            '<td>中山区、西岗区、沙河口区</td></tr>') in unsigned
    assert "2.1 职工教育</td><td>宣传教育部</td>" in unsigned
    assert input_value(r.text, "note") == "年终"
    assert not app.year_info(YEAR)["closed"]
    r = browser.post(f"{Y}/close", {"force": "1", "note": "年终"})
    assert "请确认：强制结束考核年度" in r.text and not app.year_info(YEAR)["closed"]  # the confirmation step
    r = browser.post(f"{Y}/close", {"force": "1", "note": "年终", "confirmed": "1"})
    assert r.status_code == 200 and "考核年度已结束" in r.text and "最终成绩" in r.text
    assert app.year_info(YEAR)["closed"]
    browser.sign_in("office")
    page = browser.get(f"{Y}/meetings").text
    assert "本年度已结束" in page and 'id="meeting-form"' not in page
    r = browser.post(f"{Y}/meetings", {"title": "会", "held_on": "2018-12-30"})
    assert r.status_code == 409 and "已结束考核" in form_error(r.text)
