"""The cycle's pages through TestClient: a district's 申报 with upload, the department's queue with file links and
return, dispute deadlines beside deductions, the year's stage and 公示 on the pages."""

from __future__ import annotations

import re

from tests.conftest import YEAR
from tests.cycle_support import ELF, PDF, clock  # noqa: F401 - the clock fixture
from tests.test_web_pages import browser, field_error, form_error  # noqa: F401 - the browser fixture

Y = f"/web/{YEAR}"
D = f"{Y}/districts/%E4%B8%AD%E5%B1%B1%E5%8C%BA"  # 中山区


def key(page: str) -> str:
    return re.search(r'name="_key" value="([0-9a-f]+)"', page).group(1)


def test_a_district_uploads_and_submits_and_the_department_returns_it(browser, app, year_2018):
    browser.sign_in("中山区")
    home = browser.get(f"{D}/submissions")
    assert home.status_code == 200 and "申报材料" in home.text
    row = re.search(r'<tr data-indicator="2.1">.*?</tr>', home.text, re.S).group(0)
    assert "未申报" in row and "宣传教育部" in row
    page = browser.get(f"{D}/submissions/2.1").text
    required = re.search(r'<ul class="evidence-required" id="required-evidence">(.*?)</ul>', page, re.S).group(1)
    seed = app.rubric_of_year(YEAR).indicator("2.1").evidence
    assert seed and all(e in required for e in seed)  # the seed's 证明材料 for the indicator

    no_token = browser.client.post(f"{D}/submissions/2.1/evidence", data={"_key": key(page)},
                                   files={"file": ("x.pdf", PDF)}, headers={"Origin": "http://testserver"})
    assert no_token.status_code == 403 and app.evidence_names(YEAR, "中山区") == {}  # CSRF: nothing stored
    refused = browser.post(f"{D}/submissions/2.1/evidence", {"_key": key(page)}, files={"file": ("x.pdf", ELF)})
    assert refused.status_code == 415 and field_error(refused.text, "file")
    r = browser.post(f"{D}/submissions/2.1/evidence", {"_key": key(page)}, files={"file": ("宣传方案.pdf", PDF)})
    assert r.status_code == 200 and "文件已上传" in r.text
    sha = re.search(r"attach=([0-9a-f]{64})", str(r.url)).group(1)
    assert re.search(rf'<input type="checkbox" name="files" value="sha256:{sha}" checked>', r.text)
    done = browser.post(f"{D}/submissions/2.1", {"_key": key(r.text), "statement": "已印发宣传方案",
                                                  "files": f"sha256:{sha}", "evidence": "纸质存档"})
    assert done.status_code == 200 and "申报已提交" in done.text
    history = re.search(r'<table class="grid compact" id="submission-history">.*?</table>', done.text, re.S).group(0)
    assert f'href="{D}/evidence/{sha}"' in history and "宣传方案.pdf" in history and "待审核" in history
    assert browser.get(f"{D}/evidence/{sha}").content == PDF

    browser.sign_in("宣传教育部")
    listed = browser.get(f"{Y}/submissions?status=waiting")
    assert listed.status_code == 200
    row = re.search(r'<tr data-submission="([^"]+)" data-district="中山区".*?</tr>', listed.text, re.S)
    assert f'href="{D}/evidence/{sha}"' in row.group(0) and "宣传方案.pdf" in row.group(0)
    assert browser.get(f"{D}/evidence/{sha}").content == PDF  # the department opens it from its queue
    empty = browser.post(f"{Y}/submissions/{row.group(1)}/return", {"_key": key(listed.text), "reason": ""})
    assert empty.status_code == 422 and field_error(empty.text, "reason")
    back = browser.post(f"{Y}/submissions/{row.group(1)}/return", {"_key": key(listed.text), "reason": "缺会议记录"})
    assert back.status_code == 200 and "申报已退回" in back.text
    assessed = browser.get(f"{Y}/assess/%E4%B8%AD%E5%B1%B1%E5%8C%BA/2.1").text
    assert 'id="district-submission" data-status="returned"' in assessed and "缺会议记录" in assessed

    browser.sign_in("中山区")
    overview = browser.get(f"{D}/submissions").text
    assert "退回理由：缺会议记录" in re.search(r'<tr data-indicator="2.1">.*?</tr>', overview, re.S).group(0)
    browser.sign_in("西岗区")
    assert browser.get(f"{D}/evidence/{sha}").status_code == 403
    assert browser.get(f"{D}/submissions").status_code == 403


def test_deadlines_beside_deductions_and_the_stage_on_the_pages(browser, app, clock):
    clock.set("2018-09-28T10:00")
    browser.sign_in("admin")
    browser.post("/web/years", {"year": "2018", "rubric": "dalian-2018", "districts": "中山区\n西岗区",
                                "dispute_days": "10"})
    app.hold_meeting(app.system_actor, year=YEAR, title="推进会", held_on="2018-09-27", absent=["中山区"])
    years = browser.get("/web/years").text
    assert '<td class="stage" data-stage="open">进行中</td>' in years
    browser.sign_in("中山区")
    page = browser.get(D).text
    assert '<div class="deadline small" data-until="2018-10-17">申诉截止 2018-10-17</div>' in page
    assert "计扣 0.50" in page and 'class="button small dispute"' in page
    assert ">成绩排名</a>" not in page
    clock.set("2018-10-18T09:00")
    assert 'class="button small dispute"' not in browser.get(D).text  # the window has closed

    clock.set("2018-12-03T10:00")
    browser.sign_in("admin")
    published = browser.post(f"{Y}/publication", {"_key": key(browser.get("/web/years").text), "days": "5"})
    assert published.status_code == 200 and "考核结果已开始公示" in published.text
    assert '<td class="stage" data-stage="publication">公示中</td>' in published.text
    refused = browser.post(f"{Y}/close", {"note": ""})
    assert refused.status_code == 409 and "公示" in form_error(refused.text)
    browser.sign_in("中山区")
    page = browser.get(D).text
    assert "公示中，至 2018-12-10" in page and ">成绩排名</a>" in page
    assert 'data-until="2018-12-10"' in page and 'class="button small dispute"' in page
    ranking = browser.get(f"{Y}/ranking")
    assert ranking.status_code == 200 and 'id="publication-note"' in ranking.text
    assert 'data-district="西岗区"' in ranking.text and f"{Y}/districts/%E8%A5%BF" not in ranking.text
