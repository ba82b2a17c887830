"""Pages for the office's desk: charts, the 通报 print view, the year switcher, last year's results,
the registers for the auditor, Chinese everywhere (no codes, no key=value), the 404 page, offline /docs."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from api.asgi import create_app
from api.service import tokens
from domain.actors import Actor
from tests.conftest import ADMIN, RUBRIC
from tests.test_web_pages import Browser, field_error

OFFICIAL = ["庄河市", "中山区", "旅顺口区", "西岗区", "大连长兴岛经济技术开发区"]
OFFICE = Actor("fixture-office", "office")
PROPAGANDA = Actor("fixture-宣传教育部", "department", department="宣传教育部")
DISTRICT_ROLE_CODES = re.compile(r"\b(office|department|district|auditor|admin)\b")


@pytest.fixture
def browser(app):
    with TestClient(create_app(app)) as client:
        yield Browser(client, app)


@pytest.fixture
def years(app, browser):
    """2017 (中山区, 西岗区, 金州区; 西岗区 missed a meeting) and 2018 (OFFICIAL; 西岗区 and 中山区 missed one)."""
    browser.tokens["庄河市"] = tokens.create_token(app.views, "庄河市总工会", "district", district="庄河市")
    app.open_year(ADMIN, year=2017, rubric=RUBRIC, districts=["中山区", "西岗区", "金州区"])
    app.hold_meeting(OFFICE, year=2017, title="2017会议", held_on="2017-05-05", absent=["西岗区"])
    app.open_year(ADMIN, year=2018, rubric=RUBRIC, districts=list(OFFICIAL))
    app.hold_meeting(OFFICE, year=2018, title="全市工会工作会议", held_on="2018-03-15", absent=["西岗区", "中山区"])
    return 2018


def visible_text(page: str) -> str:
    """The text a person reads: no tags, no attribute values."""
    body = re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def test_the_ranking_has_inline_svg_charts_ties_in_the_official_order_and_last_year(browser, app, years):
    browser.sign_in("auditor")
    page = browser.get("/web/2018/ranking").text
    rows = re.findall(r'<tr data-district="([^"]+)"><td class="num">(\d+)</td>', page)
    assert rows == [("庄河市", "1"), ("旅顺口区", "1"), ("大连长兴岛经济技术开发区", "1"), ("中山区", "4"), ("西岗区", "4")]
    chart = page[page.index('id="ranking-chart"'):]
    assert "<svg" in chart and "<script" not in page.lower()
    bars = re.findall(r'<text class="name"[^>]*>([^<]+)</text>', chart[:chart.index("</svg>")])
    assert bars == [r[0] for r in rows]
    assert 'id="category-chart"' in page and page.count("<svg") == 2
    # last year: 西岗区 was 3rd of three in 2017, 中山区 1st; 庄河市 was not assessed
    xigang = page[page.index('<tr data-district="西岗区">'):]
    assert re.search(r'<td class="num prev" data-year="2017">99.50</td>\s*<td class="num prev">3</td>', xigang)
    zhuanghe = page[page.index('<tr data-district="庄河市">'):page.index('<tr data-district="旅顺口区">')]
    assert 'data-year=""' in zhuanghe


def test_a_districts_page_shows_its_categories_beside_the_city_average_and_last_year(browser, app, years):
    browser.sign_in("西岗区")
    page = browser.get("/web/2018/districts/西岗区").text
    chart = page[page.index('id="average-chart"'):]
    assert "<svg" in chart and "全市平均" in chart
    # 综合工作 (20 points): 西岗区 19.50, the city average (2 of 5 lost 0.5) 19.80
    assert "19.50" in chart and "19.80" in chart
    assert "2017 年度：" in page and "99.50" in page and "第 3 名" in page
    assert "statement.pdf" in page


def test_the_year_switcher_lists_the_years_each_role_takes_part_in(browser, app, years):
    browser.sign_in("office")
    page = browser.get("/web/2018/meetings").text
    switch = page[page.index('id="year-switch"'):page.index("</details>")]
    assert 'href="/web/2018/meetings"' in switch and 'href="/web/2017/meetings"' in switch
    browser.sign_in("庄河市")  # assessed in 2018 only
    page = browser.get("/web/2018/districts/庄河市").text
    switch = page[page.index('id="year-switch"'):page.index("</details>")]
    assert "2018 年度" in switch and "2017" not in switch
    browser.sign_in("西岗区")
    switch = browser.get("/web/2018/districts/西岗区/history").text
    assert 'href="/web/2017/districts/%E8%A5%BF%E5%B2%97%E5%8C%BA/history"' in switch or \
        'href="/web/2017/districts/西岗区/history"' in switch


def test_a_district_lands_on_the_newest_year_it_is_assessed_in(browser, app, years):
    app.open_year(ADMIN, year=2019, rubric=RUBRIC, districts=["中山区"])
    browser.sign_in("西岗区")
    home = browser.get("/web", follow_redirects=False)
    assert home.headers["location"].startswith("/web/2018/districts/")


def test_the_office_reads_the_years_page_and_the_auditor_every_register(browser, app, years):
    browser.sign_in("office")
    page = browser.get("/web/years").text
    assert 'id="year-list"' in page and "2017" in page and 'id="open-year-form"' not in page
    assert browser.post("/web/years", {"year": "2020", "districts": "中山区"}).status_code == 403
    browser.sign_in("auditor")
    nav = browser.get("/web/2018/ranking").text
    for label, path in (("会议点名", "meetings"), ("报送材料", "reports"), ("临时任务", "tasks")):
        assert f'href="/web/2018/{path}"' in nav, label
        page = browser.get(f"/web/2018/{path}")
        assert page.status_code == 200 and "<form method=\"post\" action=\"/web/2018/" not in page.text
    assert "全市工会工作会议" in browser.get("/web/2018/meetings").text


def test_the_bulletin_print_view_and_its_heading_form(browser, app, years):
    browser.sign_in("office")
    page = browser.get("/web/2018/bulletin")
    assert page.status_code == 200 and 'id="bulletin-form"' in page.text
    r = browser.post("/web/2018/bulletin", {"number": "", "date": "2019-01-20"})
    assert r.status_code == 422 and "文号" in field_error(r.text, "number")
    r = browser.post("/web/2018/bulletin", {"number": "大工发〔2019〕3号", "date": "2019-01-20"})
    assert r.status_code == 200 and "通报的标题、文号和日期已保存" in r.text
    paper = r.text[r.text.index('<article class="paper" id="bulletin">'):]
    assert "大工发〔2019〕3号　2019年1月20日" in paper
    names = re.findall(r'<tr data-district="([^"]+)">', paper)
    assert names == ["庄河市", "旅顺口区", "大连长兴岛经济技术开发区", "中山区", "西岗区"]
    assert re.search(r'id="bulletin-checkpoint">.*[0-9a-f]{64}', paper, re.S)
    assert 'href="/static/print.css" media="print"' in r.text
    assert browser.get("/web/2018/bulletin.pdf").headers["content-type"] == "application/pdf"
    browser.sign_in("auditor")  # reads it, sets nothing
    page = browser.get("/web/2018/bulletin").text
    assert 'id="bulletin-form"' not in page and "大工发〔2019〕3号" in page
    browser.sign_in("西岗区")
    assert browser.get("/web/2018/bulletin").status_code == 403


def test_no_page_shows_measures_as_key_value_and_the_history_names_finding_and_points(browser, app, years):
    app.record_finding(PROPAGANDA, year=2018, district="西岗区", clause="2.1.b", measures={"activities": 1},
                       note="仅开展一项。")
    absence = app.district_score(OFFICE, 2018, "西岗区")
    finding = next(f for c in absence["categories"] for i in c["indicators"] for cl in i["clauses"]
                   for f in cl["findings"] if cl["id"] == "8.2.b")
    dispute = app.file_dispute(Actor("x", "district", district="西岗区"), year=2018, finding_id=finding["id"],
                               statement="已请假。")
    app.resolve_dispute(OFFICE, year=2018, dispute_id=dispute["id"], decision="overturned", reason="属实。")
    browser.sign_in("西岗区")
    for path in ("/web/2018/districts/西岗区", "/web/2018/districts/西岗区/history"):
        text = visible_text(browser.get(path).text)
        assert "activities" not in text and not re.search(r"\w+=\d", text), path
        assert "开展宣讲、培训、文艺演出等活动项数：1" in text, path
    history = browser.get("/web/2018/districts/西岗区/history").text
    rows = dict(re.findall(r'<tr data-type="(\w+)">.*?<td class="small">([^<]*)</td>\s*<td class="nowrap"><code',
                           history, re.S))
    assert "扣 0.50 分" in rows["FindingRecorded"] or "扣 0.70 分" in rows["FindingRecorded"]
    assert "8.2.b" in rows["DisputeFiled"] and "2018-03-15" in rows["DisputeFiled"] and "原扣 0.50 分" in rows["DisputeFiled"]
    assert "撤销扣分" in rows["DisputeResolved"] and "恢复 0.50 分" in rows["DisputeResolved"]
    assert "。；" not in visible_text(history) and "；；" not in visible_text(history)


def test_pages_speak_chinese_without_role_codes(browser, app, years):
    browser.sign_in("西岗区")
    refused = browser.get("/web/2018/ranking")
    assert refused.status_code == 403
    message = visible_text(refused.text)
    assert not DISTRICT_ROLE_CODES.search(message) and "无权查看全部排名" in message
    browser.sign_in("admin")
    r = browser.post("/web/years", {"year": "2019", "rubric": "dalian-2019", "districts": "中山区"})
    assert r.status_code == 422
    assert field_error(r.text, "rubric") == "没有名为 dalian-2019 的考核细则，现有：dalian-2018"
    close = browser.get("/web/2018/close").text
    assert "得分 = max" not in close
    indicator = browser.get("/web/2018/assess/西岗区/3.1").text
    assert "max(0" not in visible_text(indicator) and "最低为0分" in visible_text(indicator)


def test_unknown_web_addresses_get_the_404_page_the_api_its_json(browser, app, years):
    browser.sign_in("office")
    for path in ("/web/2018/nowhere", "/web/nowhere/ranking", "/web/2018/districts/西岗区/nowhere"):
        r = browser.get(path)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), path
        assert "未找到" in r.text and "<nav" in r.text
    r = browser.get("/api/nowhere")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [v for k, v in attrs.items() if k in ("src", "href", "spec-url") and v]
        if tag == "script" and not attrs.get("src"):
            self.inline_scripts += 1


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_reference_no_outside_host(browser, path):
    r = browser.get(path)
    assert r.status_code == 200
    assert "http://" not in r.text and "https://" not in r.text and "//cdn" not in r.text
    links = Links()
    links.feed(r.text)
    assert links.urls and links.inline_scripts == 0  # a CSP without inline script still runs the page
    for url in links.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        assert browser.get(url).status_code == 200, url
    init = browser.get("/docs-assets/swagger-init.js").text
    assert "/openapi.json" in init and "validatorUrl: null" in init
