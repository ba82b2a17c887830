"""Security through a real `kaohe serve` process: CSRF refused cross-origin and accepted from the page
itself, cross-origin sign-in refused, the old cookie refused after sign-out, the headers on every
answer, a revoked token refused within a second, 429 after repeated failures (the log without the
token), oversized input refused with nothing recorded, compact dates refused."""

from __future__ import annotations

import html
import re
import subprocess
import time

import httpx
import pytest

from tests.browser_support import kaohe_command, running_server

DISTRICTS = ["中山区", "西岗区", "沙河口区"]
EVIL = "http://evil.example"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("kaohe-security")
    with running_server(home, {
        "admin": ("管理员", "admin"),
        "office": ("市总工会办公室", "office"),
        "auditor": ("审计", "auditor"),
        "中山区": ("中山区总工会", "district", "--district", "中山区"),
    }) as running:
        running["home"] = home
        r = call(running, "admin", "POST", "/years", {"year": 2018, "rubric": "dalian-2018", "districts": DISTRICTS})
        assert r.status_code == 201, r.text
        yield running


def call(server, who: str, method: str, path: str, json: dict | None = None, **headers: str) -> httpx.Response:
    return httpx.request(method, f"{server['base']}/api{path}", json=json, timeout=10,
                         headers={"Authorization": f"Bearer {server['tokens'][who]}", **headers})


def events(server) -> int:
    r = call(server, "auditor", "GET", "/years/2018/verify")
    assert r.status_code == 200, r.text
    return r.json()["events"]


def meetings(server) -> list[str]:
    return [m["title"] for m in call(server, "office", "GET", "/years/2018/meetings").json()["meetings"]]


def signed_in(server, who: str) -> httpx.Client:
    browser = httpx.Client(base_url=server["base"], timeout=10, follow_redirects=False)
    r = browser.post("/signin", data={"token": server["tokens"][who]}, headers={"Origin": server["base"]})
    assert r.status_code == 303, r.text
    return browser


def hidden(page: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert m, f"no {name} field"
    return html.unescape(m.group(1))


MEETING = {"title": "全市工会工作会议", "held_on": "2018-03-15", "attend.中山区": "absent"}


# --- CSRF and sessions ----------------------------------------------------------------------

def test_a_cross_origin_form_post_is_refused_and_the_pages_own_is_accepted(server):
    browser = signed_in(server, "office")
    page = browser.get("/web/2018/meetings").text
    csrf, key = hidden(page, "_csrf"), hidden(page, "_key")
    before, listed = events(server), meetings(server)

    # another site's form: the browser sends our cookie and its own Origin, without our token
    r = browser.post("/web/2018/meetings", data={**MEETING, "title": "伪造会议"}, headers={"Origin": EVIL})
    assert r.status_code == 403 and "请求已拒绝" in r.text
    # even with a stolen token the origin is refused; from our origin, no token is refused too
    r = browser.post("/web/2018/meetings", data={**MEETING, "_csrf": csrf}, headers={"Origin": EVIL})
    assert r.status_code == 403
    r = browser.post("/web/2018/meetings", data=MEETING, headers={"Origin": server["base"]})
    assert r.status_code == 403
    r = browser.post("/web/2018/meetings", data={**MEETING, "_csrf": "0" * 64}, headers={"Referer": server["base"] + "/"})
    assert r.status_code == 403
    assert events(server) == before and meetings(server) == listed

    # the page's own form: same origin (here shown by the Referer alone), with the token it carried
    r = browser.post("/web/2018/meetings", data={**MEETING, "_csrf": csrf, "_key": key},
                     headers={"Referer": f"{server['base']}/web/2018/meetings"})
    assert r.status_code == 303, r.text
    assert meetings(server) == [*listed, MEETING["title"]]
    assert events(server) > before


def test_a_cross_origin_sign_in_is_refused(server):
    for headers in ({"Origin": EVIL}, {"Referer": EVIL + "/login"}, {}):
        r = httpx.post(f"{server['base']}/signin", data={"token": server["tokens"]["office"]}, headers=headers,
                       timeout=10)
        assert r.status_code == 403 and "kaohe_session" not in r.headers.get("set-cookie", "")


def test_the_cookie_holds_a_session_id_and_the_old_cookie_is_refused_after_sign_out(server):
    browser = signed_in(server, "中山区")
    session_id = browser.cookies["kaohe_session"]
    assert session_id and server["tokens"]["中山区"] not in session_id
    page = browser.get("/web/2018/districts/中山区")
    assert page.status_code == 200
    r = browser.post("/signout", data={"_csrf": hidden(page.text, "_csrf")}, headers={"Origin": server["base"]})
    assert r.status_code == 303
    stale = httpx.get(f"{server['base']}/web/2018/districts/中山区", cookies={"kaohe_session": session_id},
                      timeout=10, follow_redirects=False)
    assert stale.status_code == 303 and stale.headers["location"].startswith("/?next=")


# --- headers --------------------------------------------------------------------------------

@pytest.mark.parametrize("who, path", [
    (None, "/"), ("office", "/web/2018/meetings"), ("中山区", "/web/2018/districts/中山区"),
    ("api:auditor", "/api/years/2018/scores"), ("api:中山区", "/api/years/2018/districts/中山区/score"),
    ("api:中山区", "/api/years/2018/districts/西岗区/score"), (None, "/api/years/2018/scores"), (None, "/health"),
    (None, "/static/kaohe.css"),
])
def test_every_answer_carries_the_security_headers(server, who, path):
    if who is None:
        r = httpx.get(server["base"] + path, timeout=10)
    elif who.startswith("api:"):
        r = httpx.get(server["base"] + path, timeout=10,
                      headers={"Authorization": f"Bearer {server['tokens'][who[4:]]}"})
    else:
        r = signed_in(server, who).get(path)
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    if path.startswith("/static/"):
        assert "max-age" in r.headers["cache-control"]
    else:
        assert r.headers["cache-control"] == "no-store"


def test_pages_carry_no_inline_script_or_style(server):
    for who, path in (("office", "/web/2018/meetings"), ("auditor", "/web/2018/ranking"), ("中山区", "/web/2018/districts/中山区")):
        page = signed_in(server, who).get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", page)
        assert " style=" not in page and "<style" not in page
        assert not re.search(r"\son[a-z]+=", page)


# --- tokens ---------------------------------------------------------------------------------

def test_a_revoked_token_is_refused_by_the_running_server_within_a_second(server):
    home, env = server["home"], server["env"]

    def kaohe(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*kaohe_command(), *args], env=env, cwd=home, capture_output=True, text=True, timeout=60)

    made = kaohe("token", "create", "--name", "临时审计", "--role", "auditor")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server['base']}/api/years/2018/scores", headers=headers, timeout=10).status_code == 200
    revoked = kaohe("token", "revoke", "临时审计")
    assert revoked.returncode == 0, revoked.stderr
    deadline = time.monotonic() + 1.0
    while True:
        status = httpx.get(f"{server['base']}/api/years/2018/scores", headers=headers, timeout=10).status_code
        if status == 401 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == 401
    listed = kaohe("token", "list")
    assert "临时审计\tauditor\t-\trevoked" in listed.stdout and token not in listed.stdout


def test_repeated_failed_authentication_gets_429_and_is_logged_without_the_token(server):
    # its own server: the block is per client address, and the other tests share 127.0.0.1
    home = server["home"] / "limited"
    home.mkdir()
    with running_server(home, {"auditor": ("审计", "auditor")}) as limited:
        guesses = [f"guess-{i:04d}-not-a-token" for i in range(12)]
        statuses = [httpx.get(f"{limited['base']}/api/years", headers={"Authorization": f"Bearer {g}"},
                              timeout=10).status_code for g in guesses]
        assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
        blocked = httpx.get(f"{limited['base']}/api/years", timeout=10,
                            headers={"Authorization": f"Bearer {limited['tokens']['auditor']}"})
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1  # even a good token
        assert blocked.json()["error"]["code"] == "too_many_requests"
        page = httpx.post(f"{limited['base']}/signin", data={"token": limited["tokens"]["auditor"]},
                          headers={"Origin": limited["base"]}, timeout=10)
        assert page.status_code == 429 and "Retry-After" in page.headers
    log = (home / "serve.log").read_text()
    assert "authentication failed from 127.0.0.1" in log
    assert not any(g in log for g in guesses) and limited["tokens"]["auditor"] not in log


# --- limits and strict input ----------------------------------------------------------------

def test_oversized_or_malformed_input_is_refused_and_records_nothing(server):
    before = events(server)
    y = "/years/2018"
    big = call(server, "office", "POST", f"{y}/meetings", {"title": "会议", "held_on": "2018-03-01",
                                                          "note": "x" * (2 << 20)})
    assert big.status_code == 413 and big.json()["error"]["field"] == "body"
    for body, field in (({"title": "会" * 201, "held_on": "2018-03-01"}, "title"),
                        ({"title": "会议", "held_on": "2018-03-01", "note": "记" * 2001}, "note"),
                        ({"title": "会议", "held_on": "20180301"}, "held_on"),
                        ({"title": "会议\u202e", "held_on": "2018-03-01"}, "title")):
        r = call(server, "office", "POST", f"{y}/meetings", body)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    dup = httpx.post(f"{server['base']}/api{y}/meetings", timeout=10,
                     content=b'{"title": "a", "title": "b", "held_on": "2018-03-01"}',
                     headers={"Authorization": f"Bearer {server['tokens']['office']}",
                              "Content-Type": "application/json"})
    assert dup.status_code == 422 and dup.json()["error"]["field"] == "title"
    assert events(server) == before
