"""The 申报 cycle in a real browser: a district uploads a PDF to its 申报 for 2.1 and submits it; the
responsible department (宣传教育部) finds it in its review queue and opens the file from there.

`kaohe serve` runs as a real process on a temporary SQLite file (tests.browser_support); screenshots go
to tests/screenshots/ (or $KAOHE_SCREENSHOTS) with the prefix cycle-.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_support import DISTRICTS, Story, running_server
from tests.cycle_support import PDF

DISTRICT = "中山区"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("kaohe-cycle"), {
        "admin": ("系统管理员", "admin"),
        "宣传教育部": ("宣传教育部", "department", "--department", "宣传教育部"),
        DISTRICT: (f"{DISTRICT}总工会", "district", "--district", DISTRICT),
    }) as running:
        yield running


def test_a_district_uploads_a_pdf_and_the_department_opens_it_from_its_queue(page, server, screenshots, tmp_path):
    story = Story(page, server["base"], server["tokens"], screenshots / "cycle")
    story.folder.mkdir(parents=True, exist_ok=True)
    pdf = tmp_path / "2018年宣传工作方案.pdf"
    pdf.write_bytes(PDF)

    story.sign_in("admin")
    story.open_year(2018, DISTRICTS)
    story.sign_out()

    # the district: 申报材料 → 2.1, the seed's 证明材料 listed, a PDF uploaded, then submitted with it
    story.sign_in(DISTRICT)
    page.click("nav a:text('申报材料')")
    page.click("#submission-overview tr[data-indicator='2.1'] a")
    page.wait_for_url("**/submissions/2.1")
    assert page.locator("#required-evidence li").count() >= 1
    story.shot("district-submission-page")
    page.set_input_files("#file", str(pdf))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**ok=uploaded**")
    assert page.locator("#submit-form input[name=files]:checked").count() == 1  # the new file is attached
    page.fill("#statement", "已制定并印发2018年宣传工作方案，附方案文件。")
    story.shot("district-submission-filled")
    page.click("#submit-form button[type=submit]")
    page.wait_for_url("**ok=submitted**")
    history = page.locator("#submission-history").inner_text()
    assert "待审核" in history and pdf.name in history
    story.shot("district-submitted")
    story.sign_out()

    # the department: its queue lists the 申报 with the file as a link; opening it gives the same bytes
    story.sign_in("宣传教育部")
    page.click("nav a:text('申报审核')")
    row = page.locator(f"#submission-queue tr[data-district='{DISTRICT}']")
    assert row.count() == 1 and "已制定并印发" in row.inner_text()
    story.shot("department-queue")
    with page.expect_download() as download:
        row.locator("a.file").click()
    saved = Path(download.value.path())
    assert download.value.suggested_filename == pdf.name
    assert saved.read_bytes() == PDF
    story.sign_out()
