"""The token lifecycle: create with an expiry and a known scope, list (never the token), revoke; every
server refuses a revoked or expired token within a second (two services on one store, PostgreSQL
too); creation and revocation recorded and visible to admin; demo tokens 0600 and only on loopback."""

from __future__ import annotations

import os
import stat
import time
from datetime import datetime, timedelta, timezone

import pytest

from api import cli
from api.service import KaoheApp, tokens
from domain.actors import Actor
from domain.errors import Forbidden, InvalidInput
from tests.conftest import DISTRICTS, YEAR
from tests.stores import POSTGRES_URL

ADMIN = Actor("管理员", "admin")


@pytest.fixture
def cli_env(app: KaoheApp, monkeypatch, tmp_path):
    """`kaohe` commands run against the test's own store, in a folder of their own."""
    if app.views.is_postgres:
        monkeypatch.setenv("KAOHE_DATABASE_URL", POSTGRES_URL)
        monkeypatch.setenv("KAOHE_POSTGRES_SCHEMA", app.env.get("POSTGRES_SCHEMA"))
    else:
        monkeypatch.setenv("KAOHE_DATABASE_URL", f"sqlite:///{app.env.get('SQLITE_DBNAME')}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_create_list_and_revoke_from_the_command_line(app, cli_env, year_2018, capsys):
    code, out, _ = run(capsys, "token", "create", "--name", "中山区总工会", "--role", "district", "--district", "中山区",
                       "--expires", "90d")
    assert code == 0
    secret = out.strip().splitlines()[-1]
    assert tokens.actor_for(app.views, secret) == Actor("中山区总工会", "district", district="中山区")
    code, out, _ = run(capsys, "token", "list")
    assert code == 0 and secret not in out and tokens.token_hash(secret) not in out
    row = next(line for line in out.splitlines() if line.startswith("中山区总工会"))
    assert row.split("\t")[1:4] == ["district", "中山区", "active"]
    code, out, _ = run(capsys, "token", "revoke", "中山区总工会")
    assert code == 0 and "revoked" in out
    time.sleep(tokens.RECHECK)
    assert tokens.actor_for(app.views, secret) is None
    code, out, _ = run(capsys, "token", "list")
    assert "\trevoked\t" in next(line for line in out.splitlines() if line.startswith("中山区总工会"))
    assert run(capsys, "token", "revoke", "没有这个令牌")[0] == 1


def test_a_token_for_an_unknown_district_or_department_is_refused(app, cli_env, year_2018, capsys):
    code, _, err = run(capsys, "token", "create", "--name", "金州", "--role", "district", "--district", "金州区")
    assert code == 1 and "金州区" in err
    code, _, err = run(capsys, "token", "create", "--name", "宣传部", "--role", "department", "--department", "宣传部")
    assert code == 1 and "宣传部" in err
    assert run(capsys, "token", "create", "--name", "宣教", "--role", "department", "--department", "宣传教育部")[0] == 0
    assert run(capsys, "token", "create", "--name", "办公室", "--role", "department", "--department", "办公室")[0] == 0
    # said explicitly: a district made ready before its year opens
    assert run(capsys, "token", "create", "--name", "金州", "--role", "district", "--district", "金州区",
               "--allow-unknown-scope")[0] == 0
    names = [t["name"] for t in tokens.list_tokens(app.views, ADMIN)["tokens"]]
    assert "宣传部" not in names and "金州" in names


def test_a_closed_years_districts_no_longer_count(app, cli_env, capsys):
    app.open_year(ADMIN, year=2017, rubric="dalian-2018", districts=["旧区"])
    app.close_year(ADMIN, year=2017, force=True)
    assert run(capsys, "token", "create", "--name", "旧区", "--role", "district", "--district", "旧区")[0] == 1


@pytest.mark.parametrize("value, hours", [("30m", 0.5), ("12h", 12), ("2d", 48), ("1w", 168)])
def test_expiry_as_a_duration(value, hours):
    now = datetime(2018, 3, 1, 8, 0, tzinfo=timezone.utc)
    assert tokens.parse_expiry(value, now) == (now + timedelta(hours=hours)).isoformat(timespec="seconds")


def test_expiry_as_a_date_or_a_datetime():
    now = datetime(2018, 3, 1, 8, 0, tzinfo=timezone.utc)
    # a date: valid through that day in Asia/Shanghai (ends at 16:00 UTC)
    assert tokens.parse_expiry("2018-12-31", now) == "2018-12-31T16:00:00+00:00"
    assert tokens.parse_expiry("2018-06-30T18:00+08:00", now) == "2018-06-30T10:00:00+00:00"
    for bad in ("20181231", "tomorrow", "2017-12-31", "0d"):
        with pytest.raises(InvalidInput):
            tokens.parse_expiry(bad, now)


def test_an_expired_token_is_refused(app, year_2018, client):
    # Expiries are kept to the second: two seconds ahead leaves at least one before it passes.
    expires = (datetime.now(timezone.utc) + timedelta(seconds=2)).replace(microsecond=0)
    secret = tokens.create_token(app.views, "临时", "auditor", expires_at=expires.isoformat(timespec="seconds"))
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get(f"/api/years/{YEAR}/scores", headers=headers).status_code == 200
    time.sleep(max(0.0, (expires - datetime.now(timezone.utc)).total_seconds()) + 0.2)
    assert client.get(f"/api/years/{YEAR}/scores", headers=headers).status_code == 401
    listed = {t["name"]: t for t in tokens.list_tokens(app.views, ADMIN)["tokens"]}
    assert listed["临时"]["status"] == "expired"


def test_another_service_on_the_same_store_refuses_a_revoked_token_within_a_second(app, year_2018, client):
    """Two services on one store (PostgreSQL: one schema) stand for two running servers."""
    secret = tokens.create_token(app.views, "外审", "auditor")
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get(f"/api/years/{YEAR}/scores", headers=headers).status_code == 200  # remembered now
    url, extra = _same_store(app)
    other = KaoheApp.from_url(url, **extra)
    try:
        tokens.revoke_token(other.views, "外审", ADMIN)
    finally:
        other.close()
    deadline = time.monotonic() + 1.0
    while client.get(f"/api/years/{YEAR}/scores", headers=headers).status_code == 200:
        assert time.monotonic() < deadline, "the revoked token still works after a second"
        time.sleep(0.05)


def _same_store(app: KaoheApp) -> tuple[str, dict[str, str]]:
    if app.views.is_postgres:
        return POSTGRES_URL, {"POSTGRES_SCHEMA": app.env.get("POSTGRES_SCHEMA")}
    return f"sqlite:///{app.env.get('SQLITE_DBNAME')}", {}


def test_admin_sees_who_made_and_revoked_which_token_over_http(app, year_2018, client, auth):
    tokens.create_token(app.views, "临时审计", "auditor", created_by="cli:root")
    r = client.delete("/api/tokens/临时审计", headers=auth["admin"])
    assert r.status_code == 200 and r.json()["status"] == "revoked" and r.json()["revoked_by"] == "admin"
    again = client.delete("/api/tokens/临时审计", headers=auth["admin"])
    assert again.status_code == 200 and again.json()["revoked_at"] == r.json()["revoked_at"]
    listing = client.get("/api/tokens", headers=auth["admin"])
    assert listing.status_code == 200
    body = listing.json()
    assert {t["name"] for t in body["tokens"]} >= {"admin", "office", "临时审计", *(f"district-{d}" for d in DISTRICTS)}
    assert not any("token_hash" in t or "token" in t for t in body["tokens"])
    mine = [(e["action"], e["actor"], e["role"]) for e in body["events"] if e["name"] == "临时审计"]
    assert mine == [("created", "cli:root", "auditor"), ("revoked", "admin", "auditor")]
    district = next(e for e in body["events"] if e["name"] == "district-中山区")
    assert district["district"] == "中山区" and district["action"] == "created"
    for who in ("office", "auditor", "中山区"):
        assert client.get("/api/tokens", headers=auth[who]).status_code == 403
        assert client.delete("/api/tokens/admin", headers=auth[who]).status_code == 403
    assert client.delete("/api/tokens/nobody", headers=auth["admin"]).status_code == 404
    with pytest.raises(Forbidden):
        tokens.list_tokens(app.views, Actor("x", "office"))


def test_a_token_table_from_before_expiry_is_completed_in_place(app):
    tokens.init(app.views)
    with app.views.transaction() as tx:
        tx.execute("DROP TABLE kaohe_tokens")
        tx.execute("CREATE TABLE kaohe_tokens (token_hash TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, "
                   "role TEXT NOT NULL, department TEXT, district TEXT, created_at TEXT NOT NULL)")
        tx.execute("INSERT INTO kaohe_tokens VALUES (?, 'old', 'auditor', NULL, NULL, '2018-01-01T00:00:00+00:00')",
                   (tokens.token_hash("old-secret"),))
    tokens._ready.discard(app.views)
    assert tokens.actor_for(app.views, "old-secret") == Actor("old", "auditor")
    assert tokens.list_tokens(app.views, ADMIN)["tokens"][0]["status"] == "active"


# --- kaohe demo -----------------------------------------------------------------------------

def test_demo_tokens_are_written_for_this_user_only(app, cli_env, capsys):
    code, out, _ = run(capsys, "demo")
    assert code == 0
    path = cli_env / "var" / "demo-tokens.txt"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    admin_line = next(line for line in path.read_text().splitlines() if line.startswith("admin\t"))
    assert tokens.actor_for(app.views, admin_line.split("\t")[-1]).role == "admin"


def test_demo_on_a_public_address_makes_nothing(app, cli_env, capsys):
    code, _, err = run(capsys, "demo", "--if-empty", "--host", "0.0.0.0")
    assert code == 0 and "loopback" in err
    assert app.years() == [] and not (cli_env / "var" / "demo-tokens.txt").exists()
    assert tokens.list_tokens(app.views, ADMIN)["tokens"] == []
    assert run(capsys, "demo", "--if-empty", "--host", "127.0.0.1")[0] == 0
    assert (cli_env / "var" / "demo-tokens.txt").exists()
