"""The web pages in a real browser: headless Chromium (Debian's package) driven by Playwright for Python.

`kaohe serve` runs as a real process on a temporary SQLite file; tokens come from
`kaohe token create`. The test signs in as admin (opens 2018), as the office (logs a meeting
with one absent district), as that district (sees 99.50, disputes the deduction), as the office
again (overturns it) and as the district again (100.00). Every page is saved as a screenshot
under tests/screenshots/ (or $KAOHE_SCREENSHOTS); with KAOHE_UPDATE_DOCS=1 two of them are
also copied to docs/screenshots/ for the README (a plain test run leaves the repository alone).

Chromium is installed from Debian's packages where missing (as root). Where it cannot be had
the test is skipped with the reason, unless KAOHE_REQUIRE_BROWSER=1 (set by .ci/run), which
makes a missing browser a failure.
"""

from __future__ import annotations

import pytest

from tests.browser_support import DISTRICTS, ROOT, Story, running_server

ABSENT = "中山区"
EXCUSED = "西岗区"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`kaohe serve` with one token per role the story needs."""
    with running_server(tmp_path_factory.mktemp("kaohe-serve"), {
        "admin": ("系统管理员", "admin"),
        "office": ("市总工会办公室", "office"),
        ABSENT: (f"{ABSENT}总工会", "district", "--district", ABSENT),
    }) as running:
        yield running


def test_meeting_absence_dispute_and_overturn_in_a_real_browser(page, server, screenshots, capsys):
    story = Story(page, server["base"], server["tokens"], screenshots)
    docs = ROOT / "docs" / "screenshots"

    # the admin opens the year
    story.sign_in("admin")
    assert page.url.endswith("/web/years")
    story.open_year(2018, DISTRICTS, shot="admin-open-year")
    assert page.locator("#ranking tbody tr").count() == len(DISTRICTS)
    story.shot("admin-ranking")
    story.sign_out()

    # the office logs a meeting: one district absent, one excused
    story.sign_in("office")
    assert page.url.endswith("/web/2018/meetings")
    assert page.locator("table.rollcall tbody tr").count() == len(DISTRICTS)
    assert page.locator("table.rollcall input[value=present]:checked").count() == len(DISTRICTS)
    page.fill("#title", "全市工会工作会议")
    page.fill("#held_on", "2018-03-15")
    page.check(f"input[aria-label='{ABSENT} 缺席']")
    page.check(f"input[aria-label='{EXCUSED} 请假']")
    story.shot("office-roll-call", copy_to=docs / "office-roll-call.png")
    page.click("#meeting-form button[type=submit]")
    page.wait_for_url("**/web/2018/meetings?ok=meeting")
    listed = page.locator("#meeting-list tbody tr").first
    assert "全市工会工作会议" in listed.inner_text() and ABSENT in listed.inner_text()
    story.shot("office-meeting-logged")
    for label in ("报送材料", "临时任务"):
        page.click(f"nav a:text('{label}')")
        story.shot("office-" + {"报送材料": "reports", "临时任务": "tasks"}[label])
    page.click("nav a:text('指标考核')")
    cell = page.locator("#assess tr[data-indicator='8.2'] a").first
    assert cell.inner_text() == "3.50"
    story.shot("office-assess")
    cell.click()
    page.wait_for_url("**/assess/**/8.2")
    assert "未参加：全市工会工作会议" in page.locator("#clause-8\\.2\\.b").inner_text()
    story.shot("office-indicator-8.2")
    page.click("nav a:text('成绩排名')")
    assert page.locator(f"#ranking tr[data-district='{ABSENT}'] td.total").inner_text() == "99.50"
    story.shot("office-ranking")
    story.sign_out()

    # the district sees 99.50 and disputes the deduction
    story.sign_in(ABSENT)
    assert page.locator("#total").inner_text() == "99.50"
    assert "未参加：全市工会工作会议" in page.locator("#deductions").inner_text()
    story.shot("district-breakdown", copy_to=docs / "district-breakdown.png")
    page.click("#deductions a.dispute")
    page.wait_for_url("**/dispute")
    page.fill("#evidence", "请假条（2018-03-14）")
    page.click("#dispute-form button[type=submit]")  # no statement: refused next to the field, evidence kept
    assert page.locator(".field-error[data-field=statement]").is_visible()
    assert page.input_value("#evidence") == "请假条（2018-03-14）"
    story.shot("district-dispute-refused")
    page.fill("#statement", "我区已于会前书面请假，不应按缺席扣分。")
    story.shot("district-dispute-form")
    page.click("#dispute-form button[type=submit]")
    page.wait_for_url("**/web/2018/districts/**ok=dispute**")
    assert "回执" in page.locator(".flash").inner_text()
    assert "申诉待处理" in page.locator("#deductions").inner_text()
    story.shot("district-disputed")
    page.click("nav a:text('历史记录')")
    assert page.locator("#history tr[data-type=DisputeFiled]").count() == 1
    story.shot("district-history")
    page.click("nav a:text('回执')")
    head = page.locator("#head").inner_text()
    assert len(head) == 64
    story.shot("district-receipts")
    story.sign_out()

    # the office overturns it
    story.sign_in("office")
    page.click("nav a:text('申诉处理')")
    row = page.locator("#dispute-list tbody tr").first
    assert ABSENT in row.inner_text()
    row.locator("input[name=reason]").fill("经核实已提前请假，按请假处理。")
    story.shot("office-dispute-queue")
    row.locator("button[value=overturned]").click()
    page.wait_for_url("**/web/2018/disputes?ok=resolved")
    story.shot("office-dispute-resolved")
    story.sign_out()

    # the district's score is restored
    story.sign_in(ABSENT)
    assert page.locator("#total").inner_text() == "100.00"
    assert "申诉后撤销" in page.locator("#deductions").inner_text()
    story.shot("district-restored")
    page.goto(server["base"] + "/web/2018/districts/" + "西岗区")
    assert "无权访问" in page.content()
    story.shot("district-forbidden")

    with capsys.disabled():
        print(f"\nkaohe browser screenshots ({story.count}): {screenshots}")
