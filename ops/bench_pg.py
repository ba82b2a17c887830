"""PostgreSQL with several servers: `kaohe serve --workers 1, 2, 4` on one store, loaded over 127.0.0.1.

  .venv/bin/python -O ops/bench_pg.py            the full run (8 minutes on the loaded machine of the README run)
  .venv/bin/python -O ops/bench_pg.py --quick    fewer requests, 1 and 4 workers (well under a minute idle)

Prints, for each worker count, HTTP findings/s (32 clients, one finding per request, random
districts of 3,000) and the reads under mixed load (16 writers + 16 readers of a district's
score), each beside its target and beside ceilings measured in the same run on the same
machine: pgbench (C clients, no Python) running a plain INSERT and the library's append
pattern (LOCK TABLE ... IN EXCLUSIVE MODE + INSERT + NOTIFY) with 1 and 4 clients, and a
trivial ASGI app under uvicorn with 1 and 4 workers (how far the HTTP stack alone scales here).
Targets (issue 15, part 4): 4 workers >= 3x 1 worker, >= 2,500 findings/s, read p99 < 50 ms,
every acknowledged finding stored exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ops.bench import ADMIN, POSTGRES_URL, Store, say
from ops.bench_http import KAOHE, free_port, percentile, run_load, token

YEAR = 2018
CLIENTS = 32


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode()[-2000:] if process.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- ceilings ------------------------------------------------------------------------------

def pgbench(schema: str, script: str, clients: int, seconds: int) -> float:
    """Transactions/s pgbench reaches running `script` with `clients` connections (C, no Python)."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            ["pgbench", "-n", "-h", "127.0.0.1", "-U", "postgres", "-c", str(clients), "-j", str(min(clients, 2)),
             "-T", str(seconds), "-f", f.name, "test"],
            env={**os.environ, "PGOPTIONS": f"-c search_path={schema}"}, capture_output=True, text=True, check=True,
        ).stdout
    finally:
        os.unlink(f.name)
    line = next(line for line in out.splitlines() if line.startswith("tps"))
    return float(line.split("=")[1].split()[0])


def ceilings(seconds: int) -> dict[str, float]:
    if shutil.which("pgbench") is None:
        say("[pg] pgbench not installed (apt-get install postgresql-client): no database ceiling")
        return {}
    import psycopg

    schema = f"bench_ceiling_{os.getpid()}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.t (id bigserial PRIMARY KEY, x bytea)")
    found = {}
    try:
        payload = "'\\x" + "ab" * 300 + "'"  # about a stored finding's size
        plain = f"INSERT INTO t (x) VALUES ({payload});\n"
        locked = (f"BEGIN;\nLOCK TABLE t IN EXCLUSIVE MODE;\nNOTIFY t;\nINSERT INTO t (x) VALUES ({payload});\n"
                  "COMMIT;\n")
        for name, script in (("insert", plain), ("locked", locked)):
            for clients in (1, 4):
                found[f"{name}{clients}"] = pgbench(schema, script, clients, seconds)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    say(f"[pg] ceiling, pgbench plain INSERT (a commit each): 1 client {found['insert1']:,.0f} tx/s, "
        f"4 clients {found['insert4']:,.0f} tx/s ({found['insert4'] / found['insert1']:.2f}x)")
    say(f"[pg] ceiling, pgbench LOCK TABLE EXCLUSIVE + NOTIFY + INSERT (the library's append): "
        f"1 client {found['locked1']:,.0f} tx/s, 4 clients {found['locked4']:,.0f} tx/s "
        f"({found['locked4'] / found['locked1']:.2f}x)")
    return found


def asgi_ceiling(workers: int, requests: int) -> float:
    """Requests/s of a trivial ASGI app under uvicorn with `workers` processes, same client as below."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "ops.trivial_asgi:app", "--port", str(port),
         "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, server)
        time.sleep(0.5 * workers)  # every worker up
        elapsed, _ = asyncio.run(run_load(port, "x", requests, lambda i: ("GET", "/", None), clients=CLIENTS))
        return requests / elapsed
    finally:
        stop(server)


# --- kaohe serve ---------------------------------------------------------------------------

class Served:
    """`kaohe serve --workers N` on the bench store."""

    def __init__(self, env: dict[str, str], workers: int, workdir: str):
        self.port = free_port()
        self.process = subprocess.Popen(
            [KAOHE, "serve", "--port", str(self.port), "--workers", str(workers)], env=env, cwd=workdir,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_port(self.port, self.process)
        time.sleep(0.5 * workers)

    def close(self) -> None:
        stop(self.process)


def stored_findings(schema: str, after: int = 0) -> tuple[int, int, int]:
    """Of the findings stored after position `after`: how many, how many distinct finding ids (equal when
    nothing was doubled), and in how many transactions (each append transaction takes the table lock once)."""
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT COUNT(*), COUNT(DISTINCT convert_from(state, 'UTF8')::json->>'finding_id'), "
            f"COUNT(DISTINCT xmin::text) FROM {schema}.kaohe_events "
            f"WHERE topic LIKE '%%FindingRecorded' AND notification_id > %s", (after,)).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def head(schema: str) -> int:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        return int(conn.execute(f"SELECT COALESCE(MAX(notification_id), 0) FROM {schema}.kaohe_events").fetchone()[0])


def caught_up(port: int, timeout: float = 120) -> tuple[float, int]:
    """(seconds until /health shows the views at the store's head, events behind at the start)."""
    import httpx

    start = time.perf_counter()
    first = None
    while time.perf_counter() - start < timeout:
        state = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json()
        first = state["lag_events"] if first is None else first
        if state["lag_events"] == 0:
            break
        time.sleep(0.05)
    return time.perf_counter() - start, first or 0


def bench_workers(env: dict[str, str], workdir: str, schema: str, names: list[str], workers: int, writes: int,
                  mixed: int, office: str, reader: str) -> dict[str, float]:
    rng = random.Random(workers)

    def finding(i: int):
        district = names[rng.randrange(len(names))]
        return ("POST", f"/api/years/{YEAR}/districts/{district}/findings",
                {"clause": "8.2.b", "occurred_on": "2018-05-01", "note": f"bench {workers} {i}"})

    def read(_: int):
        return ("GET", f"/api/years/{YEAR}/districts/{names[rng.randrange(len(names))]}/score", None)

    before = head(schema)
    served = Served(env, workers, workdir)
    try:
        asyncio.run(run_load(served.port, office, 200, finding, clients=CLIENTS))  # warm: connections, caches
        elapsed, lat = asyncio.run(run_load(served.port, office, writes, finding, clients=CLIENTS))
        rate = writes / elapsed
        say(f"[pg] {workers} worker(s): {writes:,} findings, {CLIENTS} clients: {rate:,.0f} findings/s "
            f"(p50 {percentile(lat, 50):.1f} ms, p99 {percentile(lat, 99):.1f} ms)")
        lag, behind = caught_up(served.port)
        say(f"[pg] {workers} worker(s): the views were {behind:,} events behind when the writes ended and caught up "
            f"{lag:.1f} s later (the leader projects for every worker: reads wait for it)")

        async def both():  # the readers are another user: a read waits only for its own caller's writes
            return await asyncio.gather(run_load(served.port, office, mixed, finding, clients=CLIENTS // 2),
                                        run_load(served.port, reader, mixed, read, clients=CLIENTS // 2))

        (w_elapsed, _), (r_elapsed, r_lat) = asyncio.run(both())
        p99 = percentile(r_lat, 99)
        say(f"[pg] {workers} worker(s), mixed 16 writers + 16 readers: {mixed / w_elapsed:,.0f} findings/s, "
            f"{mixed / r_elapsed:,.0f} reads/s; read p50 {percentile(r_lat, 50):.1f} ms, p99 {p99:.1f} ms "
            f"(target < 50 ms)")
    finally:
        served.close()
    stored, distinct, transactions = stored_findings(schema, before)
    acknowledged = 200 + writes + mixed
    say(f"[pg] {workers} worker(s): {acknowledged:,} findings acknowledged, {stored:,} stored, "
        f"{stored - distinct} doubled; {transactions:,} append transactions (table locks), "
        f"{stored / max(transactions, 1):.1f} findings each")
    return {"rate": rate, "p99": p99}


def open_year(app, names: list[str]) -> None:
    """The year as `open_year` builds it, saved directly: a year's district list is capped at 1,000 for people,
    and the issue's load is 3,000 districts."""
    from api.service.rubric_files import load_rubric
    from domain.ledger import DistrictLedger
    from domain.year import AssessmentYear

    rubric = load_rubric("dalian-2018", stored=app.stored_rubric_text)
    actor = ADMIN.as_event()
    year = AssessmentYear.open(year=YEAR, rubric=rubric.id, rubric_hash=rubric.content_hash, districts=names,
                               actor=actor)
    ledgers = [DistrictLedger.open(year=YEAR, district=d, rubric=rubric.id, rubric_hash=rubric.content_hash,
                                   actor=actor) for d in names]
    for start in range(0, len(ledgers), 500):
        app.save(*([year] if start == 0 else []), *ledgers[start:start + 500])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests, shorter ceilings, 1 and 4 workers (< 1 minute)")
    parser.add_argument("--workers", help="server processes to compare (default 1,2,4; --quick: 1,4)")
    parser.add_argument("--districts", type=int, default=3000)
    args = parser.parse_args()
    writes, mixed, seconds = (400, 200, 1) if args.quick else (6000, 2000, 8)
    counts = [int(w) for w in (args.workers or ("1,4" if args.quick else "1,2,4")).split(",")]
    say(f"[pg] {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores shared by PostgreSQL, the servers "
        f"and this load generator; {args.districts:,} districts")
    ceiling = ceilings(seconds)
    asgi = {w: asgi_ceiling(w, 2000 if args.quick else 10000) for w in sorted({1, max(counts)})}
    say(f"[pg] ceiling, trivial ASGI app under uvicorn, same client: 1 worker {asgi[1]:,.0f} req/s, "
        f"{max(counts)} workers {asgi[max(counts)]:,.0f} req/s ({asgi[max(counts)] / asgi[1]:.2f}x)")

    store = Store("postgres")
    workdir = tempfile.mkdtemp(prefix="kaohe-bench-pg-")
    env = {**os.environ, "KAOHE_DATABASE_URL": POSTGRES_URL, "KAOHE_POSTGRES_SCHEMA": store.schema,
           "KAOHE_LOG_KEY_FILE": f"{workdir}/kaohe-log.key"}
    os.environ.update({k: env[k] for k in ("KAOHE_LOG_KEY_FILE", "KAOHE_POSTGRES_SCHEMA")})
    try:
        names = [f"D{i:04d}" for i in range(args.districts)]
        t = time.perf_counter()
        app = store.app()
        open_year(app, names)
        app.catch_up()
        app.close()
        say(f"[pg] year of {len(names):,} districts opened and projected in {time.perf_counter() - t:.1f} s")
        office, auditor = token(env, "bench-office", "office"), token(env, "bench-auditor", "auditor")
        found = {w: bench_workers(env, workdir, store.schema, names, w, writes, mixed, office, auditor)
                 for w in counts}
    finally:
        store.drop()
        shutil.rmtree(workdir, ignore_errors=True)
    one, most = found[min(counts)], found[max(counts)]
    ratio = most["rate"] / one["rate"]
    say(f"[pg] {max(counts)} workers / {min(counts)}: {ratio:.2f}x (target >= 3x; ceilings here: pgbench INSERT "
        f"{ceiling.get('insert4', 0) / max(ceiling.get('insert1', 1), 1):.2f}x, trivial ASGI "
        f"{asgi[max(counts)] / asgi[1]:.2f}x)")
    say(f"[pg] {max(counts)} workers: {most['rate']:,.0f} findings/s (target >= 2,500; "
        f"{most['rate'] / asgi[max(counts)]:.0%} of the trivial ASGI app's requests/s, "
        f"{most['rate'] / max(ceiling.get('locked4', 1), 1):.0%} of pgbench's locked appends with 4 clients)")
    say("[pg] read p99 under mixed load: " + ", ".join(f"{w} worker(s) {found[w]['p99']:.1f} ms" for w in counts)
        + " (target < 50 ms)")


if __name__ == "__main__":
    main()
