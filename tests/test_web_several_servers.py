"""Pages on several server processes sharing one store: the page a form's redirect leads to shows what the form
wrote, even when another process answers it (one whose views have not caught up on their own yet)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from api.asgi import create_app
from api.service import KaoheApp, sessions, tokens
from api.web import frame
from tests.conftest import ADMIN, DISTRICTS, YEAR

SAME_ORIGIN = {"Origin": "http://testserver"}


def total(page: str) -> str:
    return re.search(r'id="total">([0-9.]+)<', page).group(1)


def test_the_page_after_a_form_waits_for_what_the_form_wrote_on_another_server(store):
    url, extra = store
    # Two processes on one store, neither with a runner: the shared views move only when a read asks for a
    # position they have not shown (as when the process that catches up is still behind, or busy).
    writer = KaoheApp.from_url(url, follow=False, **extra)  # the process that takes the form
    other = KaoheApp.from_url(url, follow=False, **extra)  # the one the redirect's page comes to
    try:
        writer.open_year(ADMIN, year=YEAR, rubric="dalian-2018", districts=list(DISTRICTS))
        token = tokens.create_token(writer.views, "市总工会办公室", "office")
        with TestClient(create_app(writer)) as here, TestClient(create_app(other)) as there:
            assert here.post("/signin", data={"token": token}, headers=SAME_ORIGIN,
                             follow_redirects=False).status_code == 303
            session = here.cookies.get(frame.COOKIE)
            there.cookies.set(frame.COOKIE, session)
            page = f"/web/{YEAR}/meetings"
            district = f"/web/{YEAR}/districts/中山区"
            assert total(there.get(district).text) == "100.00"  # the other process has read the views once

            r = here.post(page, data={"_csrf": sessions.csrf_token(session), "title": "全委会",
                                      "held_on": "2018-03-15", "attend.中山区": "absent"},
                          headers=SAME_ORIGIN, follow_redirects=False)
            assert r.status_code == 303
            written = r.cookies.get(frame.WRITTEN_COOKIE)
            assert written and int(written) == writer.written_position
            set_cookie = r.headers["set-cookie"]
            assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie and "Path=/web" in set_cookie

            # Without the cookie the other process shows what its views last read: the deduction is not there.
            assert total(there.get(district).text) == "100.00"
            there.cookies.set(frame.WRITTEN_COOKIE, written, path="/web")
            assert "会议及点名情况已记录" in there.get(r.headers["location"]).text
            assert total(there.get(district).text) == "99.50"  # 中山区 absent from a meeting: -0.5

            # A forged position past the store's head is cut to the head: the page answers, and at once.
            there.cookies.set(frame.WRITTEN_COOKIE, "999999999", path="/web")
            assert there.get(page).status_code == 200
    finally:
        other.close()
        writer.close()
