"""SQLite: one process per store catches the views up (projections.leader.FileLeadership), the others follow
it; `kaohe serve --projector process` runs that projection in a process of its own (api.projector), which the
server takes over from when it stops, and which stops when the server is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from decimal import Decimal

import httpx
import pytest

from api.service import KaoheApp
from api.service.application import READ_WAIT
from domain.actors import Actor
from tests.conftest import ADMIN, DISTRICTS, YEAR
from tests.servers import KAOHE, serve
from tests.stores import store_url

OFFICE = Actor("市总工会办公室", "office")
FINDING = {"clause": "8.2.b", "occurred_on": "2018-03-01"}  # −0.5


def eventually(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_two_services_on_one_sqlite_file_one_leads_the_other_follows_and_takes_over(tmp_path):
    url = f"sqlite:///{tmp_path}/kaohe.sqlite3"
    first = KaoheApp.from_url(url)
    assert eventually(lambda: first.runner.role == "leader")
    second = KaoheApp.from_url(url)
    try:
        time.sleep(0.6)  # past a takeover interval: the second has asked for the lock, and not got it
        assert second.runner.role == "follower"
        second.open_year(ADMIN, year=YEAR, rubric="dalian-2018", districts=list(DISTRICTS))
        second.record_finding(OFFICE, year=YEAR, district="中山区", **FINDING)
        # The follower's own read waits for the leader to settle its write, then shows it.
        assert Decimal(second.district_score(ADMIN, YEAR, "中山区")["total"]) == Decimal("99.5")
        assert first.catchup.caught_up_to == second.catchup.caught_up_to
        first.close()  # the leader stops: its lock is free
        assert eventually(lambda: second.runner.role == "leader")
        second.record_finding(OFFICE, year=YEAR, district="中山区", **FINDING)
        assert Decimal(second.district_score(ADMIN, YEAR, "中山区")["total"]) == 99
    finally:
        second.close()
        first.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_the_leader_says_how_far_it_got_in_its_catch_ups_own_commit(tmp_path, monkeypatch, kind):
    """The SETTLED row followers read moves in the same transaction as the views it speaks for: one write
    transaction a catch-up on the views (on SQLite the store's writers wait for each), and no moment where the
    row says more than the views hold."""
    from projections.leader import settled_position

    with store_url(kind, tmp_path) as (url, extra):
        monkeypatch.setenv("KAOHE_LOG_KEY_FILE", str(tmp_path / "kaohe-log.key"))
        app = KaoheApp.from_url(url, **extra)
        try:
            assert eventually(lambda: app.runner.role == "leader")
            app.open_year(ADMIN, year=YEAR, rubric="dalian-2018", districts=list(DISTRICTS))
            assert eventually(lambda: settled_position(app.views) == app.catchup.caught_up_to
                              == app.recorder.max_notification_id())
            opened, real = [], type(app.views).transaction

            def counted(views, *args, **kwargs):
                opened.append(threading.current_thread().name)
                return real(views, *args, **kwargs)

            monkeypatch.setattr(type(app.views), "transaction", counted)
            app.record_finding(OFFICE, year=YEAR, district="中山区", **FINDING)
            head = app.recorder.max_notification_id()
            assert eventually(lambda: settled_position(app.views) == head)
            time.sleep(0.2)  # anything the runner would still do after it
            assert opened.count("kaohe-projections") == 1, opened
        finally:
            app.close()


def test_a_follower_reads_the_log_another_process_wrote_without_waiting(tmp_path):
    """The Merkle log is added in each write's own commit; a follower's log reads see another process's writes
    at once (its runner looks at the log's position too), not after the read timeout."""
    url = f"sqlite:///{tmp_path}/kaohe.sqlite3"
    first = KaoheApp.from_url(url)
    assert eventually(lambda: first.runner.role == "leader")
    second = KaoheApp.from_url(url)
    try:
        first.open_year(ADMIN, year=YEAR, rubric="dalian-2018", districts=list(DISTRICTS))
        receipt = first.record_finding(OFFICE, year=YEAR, district="中山区", **FINDING)["receipt"]
        started = time.monotonic()
        checkpoint = second.latest_checkpoint(ADMIN, YEAR)
        assert time.monotonic() - started < READ_WAIT / 2
        assert checkpoint["size"] == receipt["log"]["size"]
    finally:
        second.close()
        first.close()


def test_a_lock_file_that_cannot_be_opened_still_leaves_one_process_catching_up(tmp_path):
    """Where `<database>.leader` cannot be had (here a folder in its place), the process catches up without it,
    as before the lock: reads never stall for want of a leader."""
    (tmp_path / "kaohe.sqlite3.leader").mkdir()
    app = KaoheApp.from_url(f"sqlite:///{tmp_path}/kaohe.sqlite3")
    try:
        assert eventually(lambda: app.runner.role == "leader")
        app.open_year(ADMIN, year=YEAR, rubric="dalian-2018", districts=list(DISTRICTS))
        app.record_finding(OFFICE, year=YEAR, district="中山区", **FINDING)
        started = time.monotonic()
        assert Decimal(app.district_score(ADMIN, YEAR, "中山区")["total"]) == Decimal("99.5")
        assert time.monotonic() - started < READ_WAIT / 2
    finally:
        app.close()


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (ended, not yet reaped) counts as gone.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_the_leader_looks_often_for_other_processes_writes_only_when_there_are_some(tmp_path):
    """The leader looks at the store's head every FAST_POLL for a second after another process wrote, but a head
    its own writes explain (they wake it themselves) leaves it looking every IDLE_POLL."""
    from projections.leader import FileLeadership

    store = {"head": 0, "own": 0, "looks": 0}

    def head() -> int:
        store["looks"] += 1
        return store["head"]

    leadership = FileLeadership(str(tmp_path / "kaohe.sqlite3.leader"), head, lambda: None, lambda: store["own"])
    assert leadership.lead()
    try:
        looks = {}
        for case in ("own write", "another process's write"):
            store["head"] += 1
            if case == "own write":
                store["own"] = store["head"]
            assert leadership.wait(1.0) == (True, None)  # the head moved: catch up
            store["looks"] = 0
            assert leadership.wait(0.3) == (False, None)  # nothing more: how often did it look meanwhile?
            looks[case] = store["looks"]
        assert looks["own write"] <= 0.3 / 0.02 + 3, looks  # every IDLE_POLL
        assert looks["another process's write"] >= 2 * looks["own write"] + 10, looks  # every FAST_POLL
    finally:
        leadership.close()


def test_kaohe_serve_projects_in_a_process_of_its_own_and_takes_over_when_it_stops(tmp_path):
    env = {**os.environ, "KAOHE_DATABASE_URL": f"sqlite:///{tmp_path}/kaohe.sqlite3",
           "KAOHE_LOG_KEY_FILE": str(tmp_path / "kaohe-log.key")}

    def token(name: str, role: str) -> str:
        out = subprocess.run([KAOHE, "token", "create", "--name", name, "--role", role], env=env, check=True,
                             capture_output=True, text=True, cwd=tmp_path).stdout
        return out.strip().splitlines()[-1]

    admin, office = ({"Authorization": f"Bearer {token(n, r)}"} for n, r in (("管理员", "admin"), ("办公室", "office")))
    server, base = serve(env, tmp_path, "--projector", "process")
    try:
        [projector] = children(server.pid)
        assert httpx.get(f"{base}/health").json()["catch_up"] == "follower"  # the projector leads
        r = httpx.post(f"{base}/api/years", headers=admin,
                       json={"year": YEAR, "rubric": "dalian-2018", "districts": list(DISTRICTS)})
        assert r.status_code == 201, r.text

        def total(district: str = "中山区") -> float:
            r = httpx.get(f"{base}/api/years/{YEAR}/districts/{district}/score", headers=office)
            assert r.status_code == 200, r.text
            return r.json()["total"]

        assert httpx.post(f"{base}/api/years/{YEAR}/districts/中山区/findings", headers=office,
                          json=FINDING).status_code == 201
        assert total() == 99.5  # the writer's read: settled by the projector process

        os.kill(projector, signal.SIGKILL)  # the projector dies: the server takes the lead over
        assert eventually(lambda: httpx.get(f"{base}/health").json()["catch_up"] == "leader")
        assert httpx.post(f"{base}/api/years/{YEAR}/districts/中山区/findings", headers=office,
                          json=FINDING).status_code == 201
        assert total() == 99
    finally:
        server.terminate()
        server.wait(timeout=20)

    server, base = serve(env, tmp_path, "--projector", "process")  # again on the same store: a new projector leads
    try:
        [projector] = children(server.pid)
        assert httpx.get(f"{base}/health").json()["catch_up"] == "follower"
        server.kill()  # kill -9: the projector notices its server is gone and stops too
        server.wait(timeout=10)
        assert eventually(lambda: not alive(projector))
    finally:
        if server.poll() is None:
            server.kill()
