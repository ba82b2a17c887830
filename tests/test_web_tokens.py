"""The admin's token page: list (never a token), create (shown once), revoke (confirmed), refused to others."""

from __future__ import annotations

import html
import re

from tests.conftest import YEAR
from tests.test_web_pages import Browser, browser, field_error  # noqa: F401 - the page-test fixture


def test_admin_makes_a_token_that_works_and_is_shown_once(browser: Browser, year_2018):
    browser.sign_in("admin")
    page = browser.get("/web/tokens").text
    assert "访问令牌" in page and "admin" in page
    r = browser.post("/web/tokens", {"name": "宣传教育部李四", "role": "department", "department": "宣传教育部",
                                     "expires": "90d"})
    assert r.status_code == 201
    token = html.unescape(re.search(r'<code class="hash" id="new-token-value">(.*?)</code>', r.text).group(1))
    assert "宣传教育部李四" in browser.get("/web/tokens").text
    assert token not in browser.get("/web/tokens").text  # shown once, never listed
    ok = browser.client.get(f"/api/years/{YEAR}/rubric", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200


def test_a_token_for_an_unknown_district_is_refused_on_the_page(browser: Browser, year_2018):
    browser.sign_in("admin")
    r = browser.post("/web/tokens", {"name": "东港区总工会", "role": "district", "district": "东港区"})
    assert r.status_code == 422 and field_error(r.text, "district")
    assert "东港区总工会" not in browser.get("/web/tokens").text.split('id="token-list"')[1].split("</table>")[0]


def test_revoking_asks_for_confirmation_then_the_token_stops_working(browser: Browser, year_2018):
    browser.sign_in("admin")
    victim = browser.token("office")
    r = browser.post("/web/tokens/office/revoke", {})
    assert r.status_code == 422 and field_error(r.text, "confirm")
    assert browser.client.get("/api/years", headers={"Authorization": f"Bearer {victim}"}).status_code == 200
    r = browser.post("/web/tokens/office/revoke", {"confirm": "yes"}, follow_redirects=False)
    assert r.status_code == 303
    assert browser.client.get("/api/years", headers={"Authorization": f"Bearer {victim}"}).status_code == 401
    listed = browser.get("/web/tokens").text
    assert "已撤销" in listed and "撤销" in listed.split('id="token-events"')[1]


def test_only_admin_sees_the_token_page(browser: Browser, year_2018):
    browser.sign_in("office")
    assert browser.get("/web/tokens").status_code == 403
    assert browser.post("/web/tokens", {"name": "x", "role": "admin"}).status_code == 403
