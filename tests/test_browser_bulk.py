"""Bulk entry in a real browser: a department fills one clause for every district in one table, sees the
deduction each would cause, then saves; the office saves a report's submissions in one go and closes
it after the confirmation step that names who will lose points.

`kaohe serve` runs as a real process (fixtures in tests/browser_support.py); every page is saved as a
screenshot under tests/screenshots/ (or $KAOHE_SCREENSHOTS).
"""

from __future__ import annotations

import pytest

from tests.browser_support import DISTRICTS, Story, running_server

DEPT = "民主管理部"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("kaohe-bulk"), {
        "admin": ("系统管理员", "admin"),
        "office": ("市总工会办公室", "office"),
        DEPT: (DEPT, "department", "--department", DEPT),
    }) as running:
        yield running


def expected_deduction(i: int) -> str:
    """5.4.b with rates 80 − i and 90: the mean falls i/2 short of 85; each full 1% costs 0.2 (capped at 2)."""
    return f"{min(2, (i // 2) * 0.2):.2f}"


def test_a_clause_for_every_district_and_a_reports_submissions_in_one_go(page, server, screenshots, capsys):
    story = Story(page, server["base"], server["tokens"], screenshots)

    story.sign_in("admin")
    story.open_year(2018, DISTRICTS)
    story.sign_out()

    # the department fills 5.4.b for all ten districts in one table
    story.sign_in(DEPT)
    assert page.url.endswith("/web/2018/assess")
    page.click("#bulk-links tr[data-bulk-indicator='5.4'] a.clause-table-link[data-clause='5.4.b']")
    page.wait_for_url("**/web/2018/clauses/5.4.b")
    assert page.locator("#clause-table tbody tr").count() == len(DISTRICTS)
    for i, d in enumerate(DISTRICTS):
        page.fill(f"input[name='m.{d}.enterprise_rate']", str(80 - i))
        page.fill(f"input[name='m.{d}.large_enterprise_rate']", "90")
    story.shot("department-clause-table")
    page.click("#preview-table")
    page.wait_for_load_state()
    for i, d in enumerate(DISTRICTS):
        cell = page.locator(f"#clause-table tr[data-district='{d}'] td.preview-deduction span")
        assert cell.inner_text().strip() == expected_deduction(i), d
    assert page.locator("#clause-table tr[data-district='长海县'] td.current").inner_text().startswith("0.00")
    story.shot("department-clause-preview")
    page.click("#save-table")
    page.wait_for_url("**/web/2018/clauses/5.4.b?ok=findings")
    assert "整张表已保存" in page.locator(".flash").inner_text()
    assert page.locator("#clause-table tr[data-district='长海县'] td.current").inner_text().startswith("0.80")
    story.shot("department-clause-saved")
    page.click("nav a:text('指标考核')")
    scores = [page.locator(f"#assess tr[data-indicator='5.4'] td:nth-child({3 + i}) a").inner_text()
              for i in range(len(DISTRICTS))]
    assert scores == [f"{5 - float(expected_deduction(i)):.2f}" for i in range(len(DISTRICTS))]
    story.sign_out()

    # the office saves a report's submissions at once: two dates typed, the rest on time
    story.sign_in("office")
    page.click("nav a:text('报送材料')")
    page.fill("#report-title", "上半年工作总结")
    page.fill("#report-due", "2018-07-10")
    page.click("#report-form button[type=submit]")
    page.wait_for_url("**/web/2018/reports?ok=report")
    page.fill("input[name='on.中山区']", "2018-07-09")
    page.fill("input[name='on.西岗区']", "2018-07-12")
    story.shot("office-report-table")
    page.click("form.submissions-form button[value=all_on_time]")
    page.wait_for_url("**/web/2018/reports?ok=submissions")
    rows = page.locator("table.submissions tbody tr")
    assert rows.count() == len(DISTRICTS)
    states = {rows.nth(i).locator("td").first.inner_text(): rows.nth(i).locator("td").nth(2).inner_text()
              for i in range(len(DISTRICTS))}
    assert states == {d: ("逾期" if d == "西岗区" else "按时") for d in DISTRICTS}
    assert page.locator("tr[data-district='沙河口区'] td").nth(1).inner_text() == "2018-07-10"
    story.shot("office-report-saved")

    # closing asks first and says who will lose points
    page.click("form.close-report button[type=submit]")
    page.wait_for_load_state()
    confirm = page.locator("#confirm").inner_text()
    assert "西岗区：逾期报送" in confirm and "中山区" not in confirm
    story.shot("office-close-confirm")
    page.click("#confirm-form button[type=submit]")
    page.wait_for_url("**/web/2018/reports?ok=report_closed")
    page.click("nav a:text('指标考核')")
    assert page.locator("#assess tr[data-indicator='8.2'] td:nth-child(4) a").inner_text() == "3.50"  # 西岗区
    story.shot("office-assess-after-close")

    with capsys.disabled():
        print(f"\nkaohe bulk browser screenshots ({story.count}): {screenshots}")
