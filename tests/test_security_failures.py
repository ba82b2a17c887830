"""Failure modes: a full disk (a small tmpfs) makes writes 503 with the JSON error body and nothing
recorded while reads answer and /health says degraded; `kaohe verify` reads a read-only copy and
exits 0 intact, 1 tampered, 2 when it cannot run; 200 concurrent writes to one district from two
services on PostgreSQL are all stored."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest

from api.service import KaoheApp
from domain.actors import Actor
from domain.errors import DomainError
from domain.ledger import ledger_id
from tests.browser_support import kaohe_command, running_server
from tests.stores import POSTGRES_URL, postgres_or_skip

ADMIN = Actor("管理员", "admin")
OFFICE = Actor("办公室", "office")


# --- a full disk ----------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs of its own, or a skip saying why it cannot be mounted here."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
    return filler


def test_on_a_full_disk_writes_answer_503_reads_answer_and_health_is_degraded(small_disk):
    with running_server(small_disk, {"admin": ("管理员", "admin"), "office": ("办公室", "office"),
                                     "auditor": ("审计", "auditor")}) as server:
        def call(who: str, method: str, path: str, json: dict | None = None) -> httpx.Response:
            return httpx.request(method, f"{server['base']}{path}", json=json, timeout=30,
                                 headers={"Authorization": f"Bearer {server['tokens'][who]}"})

        y = "/api/years/2018"
        assert call("admin", "POST", "/api/years", {"year": 2018, "rubric": "dalian-2018",
                                                    "districts": ["中山区", "西岗区"]}).status_code == 201
        # the same meeting again each time, confirmed as another one (else it is refused as a duplicate)
        meeting = {"title": "全市工会工作会议", "held_on": "2018-03-15", "absent": ["中山区"], "note": "记" * 1500,
                   "allow_duplicate": True}
        assert call("office", "POST", f"{y}/meetings", meeting).status_code == 201
        before = call("auditor", "GET", f"{y}/verify").json()["events"]
        scores = call("auditor", "GET", f"{y}/scores").json()

        filler = fill(small_disk)
        for _ in range(3):
            r = call("office", "POST", f"{y}/meetings", meeting)
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/json")
            assert r.json()["error"]["code"] == "unavailable"
        assert call("office", "POST", f"{y}/districts/西岗区/findings", {"clause": "8.2.b", "occurred_on": "2018-03-01"}).status_code == 503
        assert call("auditor", "GET", f"{y}/scores").json() == scores
        assert call("auditor", "GET", f"{y}/districts/中山区/score").status_code == 200
        assert call("auditor", "GET", f"{y}/verify").json()["events"] == before
        health = httpx.get(f"{server['base']}/health", timeout=10)
        assert health.status_code == 503 and health.json()["status"] == "degraded"
        assert any("full" in reason for reason in health.json()["reasons"])

        filler.unlink()  # room again: writes go through, health recovers
        assert call("office", "POST", f"{y}/meetings", meeting).status_code == 201
        recovered = httpx.get(f"{server['base']}/health", timeout=10)
        assert recovered.status_code == 200 and recovered.json()["status"] == "ok"


# --- kaohe verify on a read-only copy -------------------------------------------------------

@pytest.fixture
def history(tmp_path):
    url = f"sqlite:///{tmp_path}/live/kaohe.sqlite3"
    app = KaoheApp.from_url(url)
    app.open_year(ADMIN, year=2018, rubric="dalian-2018", districts=["中山区", "西岗区"])
    app.hold_meeting(OFFICE, year=2018, title="会议", held_on="2018-03-01", absent=["中山区"])
    app.catch_up()
    app.close()
    return tmp_path / "live" / "kaohe.sqlite3"


@pytest.fixture
def public(tmp_path):
    """A folder every user may enter (pytest's own is the runner's only): where read-only copies go."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="kaohe-verify-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in folder.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(folder)


def read_only_copy(source: Path, folder: Path) -> Path:
    folder.mkdir()
    copy = folder / "kaohe.sqlite3"
    with sqlite3.connect(source) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)  # one file, its WAL folded in
    copy.chmod(0o444)
    folder.chmod(0o555)
    return copy


def verify(path: Path, *extra: str) -> subprocess.CompletedProcess:
    """`kaohe verify` on `path`, as an unprivileged user when we are root (root ignores file modes)."""
    env = {**os.environ, "KAOHE_DATABASE_URL": f"sqlite:///{path}"}
    drop = (["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            if os.geteuid() == 0 and shutil.which("setpriv") else [])
    return subprocess.run([*drop, *kaohe_command(), "verify", *extra], env=env, cwd="/", capture_output=True,
                          text=True, timeout=120)


def test_verify_reads_a_read_only_copy_and_changes_nothing(history, public):
    copy = read_only_copy(history, public / "ro")
    content = copy.read_bytes()
    done = verify(copy)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok:")
    assert sorted(p.name for p in copy.parent.iterdir()) == ["kaohe.sqlite3"] and copy.read_bytes() == content


def test_verify_exits_1_on_tampering_and_2_when_it_cannot_run(history, public):
    with sqlite3.connect(history) as db:
        rowid, state = db.execute("SELECT rowid, state FROM stored_events WHERE originator_id = ? AND "
                                  "originator_version = 2", (ledger_id(2018, "中山区").hex,)).fetchone()
        data = orjson.loads(state)
        data["note"] = "改过的说明"
        db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (orjson.dumps(data), rowid))
    tampered = verify(read_only_copy(history, public / "ro"))
    assert tampered.returncode == 1 and "TAMPERED" in tampered.stderr

    missing = verify(public / "nowhere" / "kaohe.sqlite3")
    assert missing.returncode == 2 and "cannot" in missing.stderr
    assert not (public / "nowhere").exists()
    garbage = public / "garbage"
    garbage.mkdir()
    (garbage / "kaohe.sqlite3").write_bytes(b"not a database" * 100)
    assert verify(garbage / "kaohe.sqlite3").returncode == 2
    assert verify(read_only_copy(history, public / "ro2"), "--year", "2030").returncode == 2


# --- PostgreSQL contention ------------------------------------------------------------------

def test_200_concurrent_writes_to_one_district_from_two_services_are_all_stored():
    postgres_or_skip()
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    services: list[KaoheApp] = []
    try:
        services = [KaoheApp.from_url(POSTGRES_URL, POSTGRES_SCHEMA=schema) for _ in range(2)]
        services[0].open_year(ADMIN, year=2018, rubric="dalian-2018", districts=["中山区", "西岗区"])
        refused: list[str] = []

        def write(i: int) -> None:
            try:
                services[i % 2].record_finding(OFFICE, year=2018, district="中山区", clause="8.2.b",
                                               occurred_on="2018-03-01", note=f"第 {i} 次")
            except DomainError as e:
                refused.append(e.message)

        with ThreadPoolExecutor(max_workers=64) as pool:
            list(pool.map(write, range(200)))
        assert refused == []
        ledger = services[1].repository.get(ledger_id(2018, "中山区"))
        assert len(ledger.history.findings) == 200
    finally:
        for service in services:
            service.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
