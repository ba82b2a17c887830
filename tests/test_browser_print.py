"""The office's desk in a real browser: the ranking with its charts, the 通报 print view, an indicator
matrix of 14 districts with a long name, and a district's page on a phone (390 px wide).

`kaohe serve` runs as a real process (fixtures in tests/browser_support.py). The checks are about
layout as a browser computes it: the matrix scrolls sideways inside its box while its first column
stays put and the page itself never grows wider than the window; names keep their width. With
KAOHE_UPDATE_DOCS=1 the ranking and the 通报 screenshots are copied to docs/screenshots/ for the README.
"""

from __future__ import annotations

import pytest

from tests.browser_support import ROOT, Story, running_server

LONG = "大连长兴岛经济技术开发区"
DISTRICTS = ["中山区", "西岗区", "沙河口区", "甘井子区", "旅顺口区", "金州区", "普兰店区", "瓦房店市", "庄河市", "长海县",
             "金普新区", "高新区", LONG, "花园口经济区"]
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("kaohe-print"), {
        "admin": ("系统管理员", "admin"),
        "office": ("市总工会办公室", "office"),
        "西岗区": ("西岗区总工会", "district", "--district", "西岗区"),
    }) as running:
        yield running


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_ranking_bulletin_matrix_and_phone_in_a_real_browser(page, server, screenshots, capsys):
    story = Story(page, server["base"], server["tokens"], screenshots)
    docs = ROOT / "docs" / "screenshots"

    # the admin opens 2018 with 14 units, one with a long name
    story.sign_in("admin")
    story.open_year(2018, DISTRICTS)

    # the 14-district indicator matrix: scrolls inside its box, first column sticky, names not squeezed
    page.goto(server["base"] + "/web/2018/assess")
    table = page.locator("#assess")
    assert table.locator("thead th").count() == 2 + len(DISTRICTS)
    box = page.locator("#assess").locator("xpath=..")
    assert box.evaluate("e => e.scrollWidth > e.clientWidth")  # wider than the window: it scrolls
    assert page_width(page) <= page.viewport_size["width"]  # ... inside its box, not the page
    first = page.locator("#assess tbody tr td:first-child").first
    assert first.evaluate("e => getComputedStyle(e).position") == "sticky"
    long_header = page.locator(f"#assess thead th:text-is('{LONG}')")
    header_box = long_header.bounding_box()
    assert header_box["width"] >= 70  # at least about five characters a line, never two
    name_box = page.locator("#assess tbody tr td:first-child").first.bounding_box()
    assert name_box["width"] >= 180  # indicator names on a line or two, not two characters a line
    box.evaluate("e => { e.scrollLeft = e.scrollWidth; }")
    page.wait_for_timeout(100)
    after = first.bounding_box()
    assert abs(after["x"] - name_box["x"]) < 2  # the first column stayed where it was
    story.shot("matrix-14-districts-scrolled")
    story.sign_out()

    # the office: a meeting with two absences, then the ranking with its charts
    story.sign_in("office")
    page.fill("#title", "全市工会工作会议")
    page.fill("#held_on", "2018-03-15")
    for absent in ("西岗区", LONG):
        page.check(f"input[aria-label='{absent} 缺席']")
    page.click("#meeting-form button[type=submit]")
    page.wait_for_url("**/web/2018/meetings?ok=meeting")
    page.fill("#title", "全市工会宣传工作推进会")
    page.fill("#held_on", "2018-05-10")
    for absent in ("西岗区", "金州区", "长海县"):
        page.check(f"input[aria-label='{absent} 缺席']")
    page.click("#meeting-form button[type=submit]")
    page.wait_for_url("**/web/2018/meetings?ok=meeting")
    page.click("nav a:text('成绩排名')")
    rows = page.locator("#ranking tbody tr")
    assert rows.count() == len(DISTRICTS)
    names = [rows.nth(i).get_attribute("data-district") for i in range(rows.count())]
    full = [d for d in DISTRICTS if d not in ("西岗区", LONG, "金州区", "长海县")]
    assert names == full + ["金州区", "长海县", LONG, "西岗区"]  # ties in the order the year was opened with
    chart = page.locator("#ranking-chart svg")
    assert chart.is_visible() and chart.locator("rect.bar").count() == len(DISTRICTS)
    assert page.locator("#category-chart svg g.cell").count() == len(DISTRICTS) * 8
    assert page_width(page) <= page.viewport_size["width"]
    story.shot("office-ranking-with-chart", copy_to=docs / "ranking.png", full_page=True)

    # the 通报: the office numbers and dates it, then it is printed
    page.click("a.button:text('结果通报')")
    page.fill("#bulletin-number", "大工发〔2019〕3号")
    page.fill("#bulletin-date", "2019-01-20")
    page.click("#bulletin-form button[type=submit]")
    page.wait_for_url("**/web/2018/bulletin?ok=bulletin**")
    assert "大工发〔2019〕3号" in page.locator("#bulletin-number-line").inner_text()
    page.set_viewport_size({"width": 794, "height": 1123})  # an A4 sheet at 96 dpi
    page.emulate_media(media="print")
    assert not page.locator("header.top").is_visible() and not page.locator(".bulletin-tools").is_visible()
    assert page.locator("#bulletin-ranking thead").evaluate("e => getComputedStyle(e).display") == "table-header-group"
    assert page.locator("#bulletin").is_visible()
    story.shot("bulletin-print-view", copy_to=docs / "bulletin.png", full_page=True)
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 1366, "height": 768})
    story.sign_out()

    # a district on a phone: nothing wider than the screen, its deductions readable
    page.set_viewport_size(PHONE)
    story.sign_in("西岗区")
    assert page.locator("#total").inner_text() == "99.00"
    assert page_width(page) <= PHONE["width"]
    assert page.locator("#average-chart svg").is_visible()
    deductions = page.locator("#deductions tbody tr")
    assert deductions.count() == 2 and deductions.first.bounding_box()["width"] <= PHONE["width"]
    assert "未参加：全市工会工作会议" in page.locator("#deductions").inner_text()
    story.shot("district-phone-390", full_page=True)

    with capsys.disabled():
        print(f"\nkaohe print/layout screenshots ({story.count}): {screenshots}")
