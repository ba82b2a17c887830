"""Benchmarks of the ledger (not tests): prints its figures; record them in the README.

  ops/bench                      appends (single, and batches of 1,000), per-finding cost, replay of 100k and 1M
  ops/bench --stores sqlite,postgres --sizes 100000
  ops/bench --http               the HTTP run: kaohe serve (1 worker, SQLite) under 32 clients
  ops/bench --rebuild [--quick]  `kaohe replay` at 10k, 100k, 1M findings (--quick: 10k, 100k): ops/bench_rebuild.py
  ops/bench --all [--quick]      every section below, each in its own process, one after the other, and the whole
                                 output also written to var/bench-<date>.txt (what the README's figures come from):
                                   ops/bench_log.py        appends with the Merkle log and signatures on vs off; proofs
                                   ops/bench_rebuild.py    `kaohe replay` against the raw floor, growth, peak RSS
                                   ops/bench_reads.py      breakdown and ranking reads (32 clients), mixed load
                                   ops/bench_pg.py         1 / 2 / 4 PostgreSQL workers against pgbench / ASGI ceilings
                                   ops/bench_snapshots.py  the first write after a restart to a 5,000-event district

Targets (2-core machine): replay of 1M findings within 2x the raw floor (same rows read with
sqlite3 and decoded with orjson); appends through the service >= 2,000 events/s on SQLite;
a district's 500th finding within 20% of its 1st; HTTP >= 1,000 findings/s, score read p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from api.service import KaoheApp  # noqa: E402
from api.service.history import fast_scores  # noqa: E402
from domain.actors import Actor  # noqa: E402
from domain.ledger import ledger_id  # noqa: E402

ADMIN = Actor("bench", "admin")
OFFICE = Actor("办公室", "office")
POSTGRES_URL = os.environ.get("KAOHE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
# Clauses an office writer may record without measures (8.2/8.3/8.5 list 办公室) and two measured ones.
FLAGS = ["8.2.a", "8.2.b", "8.5.a", "8.3.c", "8.3.d", "8.3.e", "8.3.f"]


def say(text: str) -> None:
    print(text, flush=True)


class Store:
    """A fresh store for one run: a temp SQLite file, or a new PostgreSQL schema."""

    def __init__(self, kind: str):
        self.kind = kind
        self.schema = None
        if kind == "sqlite":
            self.dir = tempfile.mkdtemp(prefix="kaohe-bench-")
            self.url = f"sqlite:///{self.dir}/kaohe.sqlite3"
            self.extra: dict[str, str] = {}
        else:
            import psycopg

            self.schema = f"bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {self.schema}")
            self.url = POSTGRES_URL
            self.extra = {"POSTGRES_SCHEMA": self.schema}

    def app(self) -> KaoheApp:
        return KaoheApp.from_url(self.url, **self.extra)

    def drop(self) -> None:
        if self.schema:
            import psycopg

            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {self.schema} CASCADE")


def bench_appends(kind: str, commands: int = 3000, districts: int = 3000) -> None:
    """One finding per command through the application service, round-robin over the districts."""
    store = Store(kind)
    app = store.app()
    names = [f"D{i:04d}" for i in range(districts)]
    app.open_year(ADMIN, year=2018, rubric="dalian-2018", districts=names)
    for name in names:  # warm the aggregate cache as a running service would be
        app.repository.get(ledger_id(2018, name))
    start = time.perf_counter()
    for i in range(commands):
        app.record_finding(OFFICE, year=2018, district=names[i % districts], clause="8.2.b", occurred_on="2018-05-01")
    elapsed = time.perf_counter() - start
    say(f"[{kind}] appends through the service, 1 event per command, {districts} districts: "
        f"{commands / elapsed:,.0f} events/s")
    app.close()
    store.drop()


def bench_batches(kind: str, rows: int = 1000, batches: int = 5, districts: int = 3000) -> None:
    """`POST /findings/batch` as the service runs it: `rows` findings per call, one transaction each."""
    store = Store(kind)
    app = store.app()
    names = [f"D{i:04d}" for i in range(districts)]
    app.open_year(ADMIN, year=2018, rubric="dalian-2018", districts=names)
    for name in names:
        app.repository.get(ledger_id(2018, name))
    start = time.perf_counter()
    for b in range(batches):
        app.record_findings(OFFICE, year=2018, findings=[
            {"district": names[(b * rows + i) % districts], "clause": "8.2.b", "occurred_on": "2018-05-01"}
            for i in range(rows)])
    elapsed = time.perf_counter() - start
    say(f"[{kind}] batch calls, {rows:,} findings per call (one transaction each), {districts} districts: "
        f"{rows * batches / elapsed:,.0f} events/s, {elapsed / batches * 1e3:.0f} ms a call")
    app.close()
    store.drop()


def bench_growth(kind: str, findings: int = 500, rounds: int = 5) -> None:
    """Cost of a district's 1st vs its 500th finding (the aggregate cache keeps it flat)."""
    store = Store(kind)
    app = store.app()
    app.open_year(ADMIN, year=2018, rubric="dalian-2018", districts=[f"D{i}" for i in range(rounds)])
    first, last = [], []
    for r in range(rounds):
        costs = []
        for i in range(findings):
            t = time.perf_counter()
            app.record_finding(OFFICE, year=2018, district=f"D{r}", clause="8.2.b", occurred_on="2018-05-01")
            costs.append(time.perf_counter() - t)
        first.append(statistics.median(costs[:20]))
        last.append(statistics.median(costs[-20:]))
    a, b = statistics.median(first) * 1e3, statistics.median(last) * 1e3
    say(f"[{kind}] a district's first findings {a:.3f} ms each, its 480th-500th {b:.3f} ms each "
        f"({(b / a - 1) * 100:+.0f}%)")
    app.close()
    store.drop()


def open_year(app: KaoheApp, names: list[str], year: int = 2018) -> None:
    """Open a year of `names` as `open_year` does, built from the domain directly: the service takes at
    most 1,000 districts a request, the benchmarks want 3,000."""
    from api.service.rubric_files import load_rubric
    from domain.ledger import DistrictLedger
    from domain.year import AssessmentYear

    rubric = load_rubric("dalian-2018", stored=app.stored_rubric_text)
    actor = ADMIN.as_event()
    y = AssessmentYear.open(year=year, rubric=rubric.id, rubric_hash=rubric.content_hash, districts=names,
                            actor=actor)
    app.save(y, *(DistrictLedger.open(year=year, district=d, rubric=rubric.id, rubric_hash=rubric.content_hash,
                                      actor=actor) for d in y.districts))


def fill(app: KaoheApp, total: int, districts: int) -> None:
    """Record `total` findings over the districts, 200 events per save() to fill quickly."""
    rng = random.Random(2018)
    names = [f"D{i:04d}" for i in range(districts)]
    open_year(app, names)
    ledgers = {n: app.repository.get(ledger_id(2018, n)) for n in names}
    actor = OFFICE.as_event()
    batch = []
    for i in range(total):
        ledger = ledgers[names[i % districts]]
        if i % 10 == 9:
            ledger.record_finding(finding_id=str(uuid.UUID(int=rng.getrandbits(128))), clause="5.4.b",
                                  indicator="5.4", actor=actor,
                                  measures={"enterprise_rate": str(Decimal(rng.randrange(600, 1000)) / 10),
                                            "large_enterprise_rate": str(Decimal(rng.randrange(600, 1000)) / 10)})
        else:
            clause = FLAGS[rng.randrange(len(FLAGS))]
            ledger.record_finding(finding_id=str(uuid.UUID(int=rng.getrandbits(128))), clause=clause,
                                  indicator=clause.rsplit(".", 1)[0], actor=actor, occurred_on="2018-05-01")
        batch.append(ledger)
        if len(batch) == 200:
            app.save(*batch)
            batch = []
    if batch:
        app.save(*batch)


def bench_replay(kind: str, total: int, districts: int = 3000) -> None:
    store = Store(kind)
    app = store.app()
    t = time.perf_counter()
    fill(app, total, districts)
    say(f"[{kind}] {total:,} findings over {districts:,} districts stored in {time.perf_counter() - t:.1f} s")
    app.close()
    app = store.app()  # nothing cached: a replay starts cold

    fast = floor = float("inf")
    for _ in range(3):  # best of three for both, after the same warm-up
        t = time.perf_counter()
        rows = _raw_floor(app)
        floor = min(floor, time.perf_counter() - t)
        t = time.perf_counter()
        scores = fast_scores(app, 2018)
        fast = min(fast, time.perf_counter() - t)
    say(f"[{kind}] replay of final scores (fast path, best of 3): {fast:.2f} s; raw floor (read + orjson.loads "
        f"of the same {rows:,} rows, best of 3): {floor:.2f} s; ratio {fast / floor:.2f}x (target <= 2x)")
    sql = _sql_floor(kind, scores, total, districts)
    say(f"[{kind}] plain SQL table of {total:,} deductions, SUM ... GROUP BY district: {sql:.2f} s")
    app.close()
    store.drop()


def _raw_floor(app: KaoheApp) -> int:
    from api.service.history import raw_rows

    n = 0
    loads = orjson.loads
    for row in raw_rows(app):
        loads(row[2])
        n += 1
    return n


def _sql_floor(kind: str, scores: dict, total: int, districts: int) -> float:
    """The floor: deductions already computed, stored in a plain table, summed by SQL."""
    rng = random.Random(1)
    rows = [(f"D{i % districts:04d}", str(Decimal(rng.randrange(1, 10)) / 10)) for i in range(total)]
    if kind == "sqlite":
        db = sqlite3.connect(":memory:")
        db.execute("CREATE TABLE deductions (district TEXT, points NUMERIC)")
        db.executemany("INSERT INTO deductions VALUES (?, ?)", rows)
        t = time.perf_counter()
        db.execute("SELECT district, SUM(points) FROM deductions GROUP BY district").fetchall()
        return time.perf_counter() - t
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE deductions (district TEXT, points NUMERIC)")
        with conn.cursor().copy("COPY deductions FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        t = time.perf_counter()
        conn.execute("SELECT district, SUM(points) FROM deductions GROUP BY district").fetchall()
        return time.perf_counter() - t


# Each section: its script, its arguments for a full run, and for a quick one.
SECTIONS = [
    ("bench_log.py", [], ["--commands", "200", "--rounds", "3", "--leaves", "100000", "--http-writes", "500"]),
    ("bench_rebuild.py", [], ["--quick"]),
    ("bench_reads.py", [], ["--quick"]),
    ("bench_pg.py", [], ["--quick"]),
    ("bench_snapshots.py", [], ["--quick"]),
]


def run_all(quick: bool) -> None:
    """Every section in a process of its own (no section inherits another's memory, threads or caches),
    printed as it runs and kept in var/bench-<date>.txt with the machine's load before each."""
    import subprocess
    from datetime import datetime

    started = datetime.now().astimezone()
    out = ROOT / "var" / f"bench-{started:%Y-%m-%d-%H%M}{'-quick' if quick else ''}.txt"
    out.parent.mkdir(exist_ok=True)
    with out.open("w") as report:
        def emit(line: str) -> None:
            print(line, flush=True)
            report.write(line + "\n")
            report.flush()

        emit(f"# ops/bench --all{' --quick' if quick else ''}, {started:%Y-%m-%d %H:%M %Z}, {os.cpu_count()} cores")
        for script, full, short in SECTIONS:
            t = time.perf_counter()
            emit(f"\n## {script} {' '.join(short if quick else full)} (load average {os.getloadavg()[0]:.1f})")
            child = subprocess.Popen([sys.executable, "-O", str(ROOT / "ops" / script), *(short if quick else full)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
            for line in child.stdout:
                if "Warning" not in line and "from starlette" not in line:
                    emit(line.rstrip("\n"))
            emit(f"(exit {child.wait()}, {time.perf_counter() - t:.0f} s)")
        emit(f"\n# done in {(datetime.now().astimezone() - started).total_seconds():.0f} s; kept in {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--rebuild", action="store_true",
                        help="run the `kaohe replay` benchmark only (ops/bench_rebuild.py; its flags follow)")
    parser.add_argument("--http", action="store_true", help="run the HTTP benchmark only")
    parser.add_argument("--all", action="store_true", help="every benchmark section (with --quick: each one's quick run)")
    if "--all" in sys.argv[1:]:
        run_all(quick="--quick" in sys.argv[1:])
        return
    if "--rebuild" in sys.argv[1:]:
        from ops.bench_rebuild import main as rebuild_main

        rebuild_main([a for a in sys.argv[1:] if a != "--rebuild"])
        return
    args = parser.parse_args()
    if args.http:
        from ops.bench_http import main as http_main

        http_main()
        return
    for kind in args.stores.split(","):
        bench_appends(kind)
        bench_batches(kind)
        bench_growth(kind)
        for size in (int(s) for s in args.sizes.split(",")):
            if kind == "postgres" and size > 100_000 and "KAOHE_BENCH_PG_1M" not in os.environ:
                say(f"[{kind}] {size:,}: skipped (set KAOHE_BENCH_PG_1M=1 to run it)")
                continue
            bench_replay(kind, size)


if __name__ == "__main__":
    main()
