"""PostgreSQL with four server processes (`kaohe serve --workers 4`): one leads the views' catch-up, the
others follow it, findings group-commit, and under 200 concurrent writes nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from api.service import KaoheApp
from api.service.history import fast_scores
from domain.actors import Actor
from tests.servers import KAOHE, serve
from tests.stores import POSTGRES_URL, leader_sessions, postgres_or_skip

ROOT = Path(__file__).resolve().parents[1]
DISTRICTS = ["中山区", "西岗区", "沙河口区", "甘井子区", "旅顺口区"]
CLAUSES = ["8.2.a", "8.2.b", "8.5.a", "8.3.c", "8.3.d"]  # one per district, so their scores differ
WORKERS = 4
WRITES = 200


@pytest.fixture
def four_workers(tmp_path, monkeypatch):
    postgres_or_skip()
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    env = {**os.environ, "KAOHE_DATABASE_URL": POSTGRES_URL, "KAOHE_POSTGRES_SCHEMA": schema,
           "KAOHE_LOG_KEY_FILE": str(tmp_path / "kaohe-log.key"), "KAOHE_VIEW_READ_CONNECTIONS": "2"}

    def token(name: str, role: str) -> str:
        out = subprocess.run([KAOHE, "token", "create", "--name", name, "--role", role], env=env, check=True,
                             capture_output=True, text=True, cwd=tmp_path).stdout
        return out.strip().splitlines()[-1]

    monkeypatch.setenv("KAOHE_LOG_KEY_FILE", env["KAOHE_LOG_KEY_FILE"])  # the test's own reader shares the key
    tokens = {"admin": token("管理员", "admin"), "office": token("市总工会办公室", "office")}
    server, base = serve(env, tmp_path, "--workers", str(WORKERS), timeout=60)
    try:
        yield base, tokens, schema
    finally:
        server.terminate()
        server.wait(timeout=20)
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def test_four_workers_lose_nothing_and_double_nothing_under_200_concurrent_writes(four_workers):
    base, tokens, schema = four_workers
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    office = {"Authorization": f"Bearer {tokens['office']}"}
    opened = httpx.post(f"{base}/api/years", headers=admin, timeout=30,
                        json={"year": 2018, "rubric": "dalian-2018", "districts": DISTRICTS})
    assert opened.status_code == 201, opened.text

    async def write_all() -> list[httpx.Response]:
        # A connection per request: uvicorn's workers share the socket, so requests spread over all four.
        limits = httpx.Limits(max_keepalive_connections=0, max_connections=50)
        async with httpx.AsyncClient(base_url=base, headers=office, timeout=60, limits=limits) as client:
            return await asyncio.gather(*(
                client.post(f"/api/years/2018/districts/{DISTRICTS[i % 5]}/findings",
                            json={"clause": CLAUSES[i % 5], "occurred_on": "2018-05-01", "note": f"第 {i} 次"})
                for i in range(WRITES)))

    responses = asyncio.run(write_all())
    assert [r.status_code for r in responses] == [201] * WRITES, [r.text for r in responses if r.status_code != 201]
    answers = [r.json() for r in responses]
    assert len({a["id"] for a in answers}) == WRITES

    store = KaoheApp.from_url(POSTGRES_URL, follow=False, POSTGRES_SCHEMA=schema)
    try:
        # Every receipt's event is in the store, once, as the receipt says.
        for answer in answers:
            receipt = answer["receipt"]
            stored = list(store.recorder.select_events(UUID(receipt["aggregate"]), gt=receipt["version"] - 1,
                                                       lte=receipt["version"]))
            assert len(stored) == 1
            event = store.mapper.to_domain_event(stored[0])
            assert event.hash == receipt["head"] and event.finding_id == answer["id"]
        recorded = Counter(e.finding_id for n in store.recorder.select_notifications(start=1, limit=10_000)
                           if n.topic.endswith("FindingRecorded") for e in [store.mapper.to_domain_event(n)])
        assert set(recorded) == {a["id"] for a in answers} and set(recorded.values()) == {1}

        # Any worker's ranking, once the views hold every write, equals a rescore from the events.
        after = max(int(r.headers["Kaohe-Position"]) for r in responses)
        ranking = httpx.get(f"{base}/api/years/2018/scores", timeout=30,
                            headers={**office, "Kaohe-Read-After": str(after)}).json()
        rescored = fast_scores(store, 2018)
        assert {row["district"]: Decimal(str(row["total"])) for row in ranking["districts"]} == {
            district: score.total for district, score in rescored.items()}
        assert len({row["total"] for row in ranking["districts"]}) > 1
        # And each district's breakdown lists exactly the findings written to it (totals may be capped).
        for d, (district, clause) in enumerate(zip(DISTRICTS, CLAUSES)):
            breakdown = httpx.get(f"{base}/api/years/2018/districts/{district}/score", timeout=30,
                                  params={"findings": "all"},  # not only the newest few per clause
                                  headers={**office, "Kaohe-Read-After": str(after)}).json()
            listed = [f["id"] for c in breakdown["categories"] for i in c["indicators"] for cl in i["clauses"]
                      if cl["id"] == clause for f in cl["findings"]]
            assert sorted(listed) == sorted(a["id"] for i, a in enumerate(answers) if i % 5 == d)
        checked = store.verify(2018)
        assert checked["ok"], checked
    finally:
        store.close()

    # One of the four processes catches the views up for the store; /health tells each its part.
    assert leader_sessions(schema) == 1
    seen = {httpx.get(f"{base}/health", timeout=10).json()["catch_up"] for _ in range(20)}
    assert seen and seen <= {"leader", "follower"}


def recorded(service: KaoheApp, district: str) -> set[str]:
    """The findings a service's views show for a district (its audit log, as a reader sees it)."""
    return {e["data"]["finding_id"] for e in service.audit(Actor("审计", "admin"), 2018, district)
            if e["type"] == "FindingRecorded"}


def test_a_follower_takes_over_when_the_leader_stops(tmp_path, monkeypatch):
    """Two services on one store: the second follows; when the first closes, the second leads and catches up."""
    postgres_or_skip()
    monkeypatch.setenv("KAOHE_LOG_KEY_FILE", str(tmp_path / "kaohe-log.key"))
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    office = Actor("办公室", "office")
    first = second = None
    try:
        first = KaoheApp.from_url(POSTGRES_URL, POSTGRES_SCHEMA=schema)
        first.open_year(Actor("管理员", "admin"), year=2018, rubric="dalian-2018", districts=DISTRICTS)
        deadline = time.monotonic() + 10
        while first.runner.role != "leader" and time.monotonic() < deadline:
            time.sleep(0.05)
        second = KaoheApp.from_url(POSTGRES_URL, POSTGRES_SCHEMA=schema)
        written = second.record_finding(office, year=2018, district="中山区", clause="8.2.b", occurred_on="2018-05-01")
        # The follower's read waits for the leader's announcement, and shows its own write.
        assert second.runner.role == "follower"
        assert written["id"] in recorded(second, "中山区")
        first.close()
        first = None
        written = second.record_finding(office, year=2018, district="西岗区", clause="8.2.b", occurred_on="2018-05-01")
        assert written["id"] in recorded(second, "西岗区")
        assert second.runner.role == "leader"
        assert leader_sessions(schema) == 1
    finally:
        for service in (first, second):
            if service is not None:
                service.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")



def test_servers_started_at_the_same_moment_all_start(tmp_path, monkeypatch):
    """`kaohe serve --workers 4` starts its processes at once, and each makes (or checks) the store's tables.
    Run concurrently on one schema, the library's `CREATE TYPE`, `CREATE TABLE IF NOT EXISTS` and
    `CREATE OR REPLACE FUNCTION` fail ("duplicate key value", "tuple concurrently updated"), and uvicorn then
    stops the whole server. Six services built at the same moment (threads, each with its own connections, as
    processes would be) must all start, on an empty schema and on one whose tables exist."""
    postgres_or_skip()
    import threading

    import psycopg

    monkeypatch.setenv("KAOHE_LOG_KEY_FILE", str(tmp_path / "kaohe-log.key"))
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        for tables in ("none yet", "made already"):
            barrier = threading.Barrier(6)
            failures: list[str] = []

            def start() -> None:
                barrier.wait()
                try:
                    KaoheApp.from_url(POSTGRES_URL, follow=False, POSTGRES_SCHEMA=schema).close()
                except Exception as e:  # noqa: BLE001 - what a failed start would show
                    failures.append(repr(e))

            threads = [threading.Thread(target=start) for _ in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert failures == [], (tables, failures)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
