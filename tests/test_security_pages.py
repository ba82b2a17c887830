"""The parts of the security controls a TestClient shows best: /docs and /redoc under a nonce CSP,
Secure cookies over HTTPS or behind a TLS proxy, the CSRF check's origin rules, /health, and
per-route body limits."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient

from api.asgi import create_app
from api.request_limits import RequestBodyGuard
from api.service import sessions, tokens
from api.web import frame
from projections.store import VIEW_TABLES


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_run_their_own_scripts_under_a_nonce(client, path):
    r = client.get(path)
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)[1]
    scripts = re.findall(r"<script[^>]*>", r.text)
    assert scripts and all(f'nonce="{nonce}"' in s for s in scripts)
    assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "http" not in csp  # no outside host: the assets are served from here
    assert int(r.headers["content-length"]) == len(r.content)
    again = client.get(path).headers["content-security-policy"]
    assert re.search(r"'nonce-([^']+)'", again)[1] != nonce  # fresh for every answer


def test_the_openapi_document_gets_the_strict_policy(client):
    r = client.get("/openapi.json")
    assert "nonce" not in r.headers["content-security-policy"] and r.headers["cache-control"] == "no-store"


def sign_in(client: TestClient, token: str, origin: str):
    return client.post("/signin", data={"token": token}, headers={"Origin": origin}, follow_redirects=False)


def test_the_session_cookie_is_secure_over_https(app, year_2018):
    token = tokens.create_token(app.views, "office", "office")
    with TestClient(create_app(app), base_url="https://kaohe.example") as client:
        r = sign_in(client, token, "https://kaohe.example")
        assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()
        assert r.headers["strict-transport-security"].startswith("max-age=")


def test_the_session_cookie_is_secure_behind_a_tls_proxy(app, year_2018, monkeypatch):
    monkeypatch.setenv("KAOHE_BEHIND_HTTPS", "1")
    token = tokens.create_token(app.views, "office", "office")
    with TestClient(create_app(app), base_url="http://kaohe.example") as client:
        # the proxy speaks plain http to us; the browser's origin is https
        assert sign_in(client, token, "http://kaohe.example").status_code == 403
        r = sign_in(client, token, "https://kaohe.example")
        assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()


def test_a_configured_public_origin_is_the_only_one_accepted(app, year_2018, monkeypatch):
    monkeypatch.setenv("KAOHE_PUBLIC_ORIGIN", "https://kaohe.dalian.example")
    token = tokens.create_token(app.views, "office", "office")
    with TestClient(create_app(app)) as client:
        assert sign_in(client, token, "http://testserver").status_code == 403
        assert sign_in(client, token, "https://kaohe.dalian.example").status_code == 303


def test_an_expired_session_is_signed_out(app, year_2018, monkeypatch):
    token = tokens.create_token(app.views, "office", "office")
    with TestClient(create_app(app)) as client:
        assert sign_in(client, token, "http://testserver").status_code == 303
        assert client.get("/web/2018/meetings", follow_redirects=False).status_code == 200
        app.views.execute("UPDATE kaohe_sessions SET expires_at = '2000-01-01T00:00:00+00:00'")
        assert client.get("/web/2018/meetings", follow_redirects=False).status_code == 303


def test_a_revoked_token_ends_its_sessions(app, year_2018):
    token = tokens.create_token(app.views, "office", "office")
    with TestClient(create_app(app)) as client:
        assert sign_in(client, token, "http://testserver").status_code == 303
        session_id = client.cookies.get(frame.COOKIE)
        tokens.revoke_token(app.views, "office", tokens.Actor("root", "admin"))
        tokens._known.clear()
        assert sessions.actor_for(app.views, session_id) is None
        assert client.get("/web/2018/meetings", follow_redirects=False).status_code == 303


def test_sessions_are_stored_hashed_in_their_own_table(app, year_2018):
    token = tokens.create_token(app.views, "office", "office")
    session_id, _ = sessions.start(app.views, token)
    rows = app.views.query("SELECT session_hash, token_hash FROM kaohe_sessions")
    assert rows == [(sessions._hash(session_id), tokens.token_hash(token))]
    assert "kaohe_sessions" not in VIEW_TABLES


async def _echo(scope, receive, send):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def test_a_route_pattern_may_have_its_own_body_limit():
    guard = RequestBodyGuard(_echo, {"/": 100, r"/api/years/\d+/districts/[^/]+/evidence": 1000})
    client = TestClient(guard)  # no lifespan: the echo app has none
    assert client.post("/api/years/2018/meetings", content=b"x" * 101).status_code == 413
    assert client.post("/api/years/2018/districts/中山区/evidence", content=b"x" * 999).text == "999"
    assert client.post("/api/years/2018/districts/中山区/evidence", content=b"x" * 1001).status_code == 413
    chunked = client.post("/api/x", content=iter([b"x" * 60, b"x" * 60]))  # no Content-Length
    assert chunked.status_code == 413


def test_health_is_ok_then_degraded_after_a_refused_write(app, client):
    assert client.get("/health").json()["status"] == "ok"
    app.write_failure = (time.monotonic(), "OperationalError: database or disk is full")
    r = client.get("/health")
    assert r.status_code == 503 and r.json()["status"] == "degraded" and "full" in r.json()["reasons"][0]
    app.write_failure = (time.monotonic() - 61, "OperationalError: database or disk is full")
    assert client.get("/health").status_code == 200  # a minute on, with no refusal since
