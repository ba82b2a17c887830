"""Benchmark of snapshots (not a test): the first write to a long district after a restart; record it in the README.

  .venv/bin/python ops/bench_snapshots.py            SQLite and PostgreSQL, 5,000 events, 7 restarts each
  .venv/bin/python ops/bench_snapshots.py --quick    SQLite only, 3 restarts (well under a minute)
  .venv/bin/python ops/bench_snapshots.py --events 20000 --stores postgres

One store per kind: a year with a short district and, per restart, long districts of `--events` events each. Each
restart closes the service and opens a new one on the same store (a cold aggregate cache), writes once to the short
district (so what is timed is the long district's load, not the first write's other start-up costs), then times the
first write to a long district nobody has written to since it was built: a finding recorded through the service,
its receipt and log entry included. Per long district: first without snapshots (IS_SNAPSHOTTING_ENABLED=n: the
whole history replays), then with them, then a second write once it is cached (the floor). Medians.
Target: with snapshots, under 10 ms at 5,000 events. Two cases: the newest snapshot is one event before the write
(best), and `interval - 1` events before it (worst: what a cold load folds at most).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eventsourcing.persistence import PersistenceError  # noqa: E402

from api.service import KaoheApp  # noqa: E402
from domain.ledger import ledger_id  # noqa: E402
from ops.bench import ADMIN, FLAGS, OFFICE, Store, say  # noqa: E402
from ops.bench_log import settled  # noqa: E402

TARGET_MS = 10.0
LONG, SHORT = "D-long", "D-short"


def grow(app: KaoheApp, district: str, upto: int) -> None:
    """Findings on the district's ledger until it has `upto` events, 200 per save (as ops/bench's fill)."""
    global refused
    actor = OFFICE.as_event()
    ledger = app.repository.get(ledger_id(2018, district))
    while ledger.version < upto:
        for _ in range(min(200, upto - ledger.version)):
            clause = FLAGS[ledger.version % len(FLAGS)]
            ledger.record_finding(finding_id=str(uuid.uuid4()), clause=clause, indicator=clause.rsplit(".", 1)[0],
                                  actor=actor, occurred_on="2018-05-01")
        try:
            app.save(ledger)
        except PersistenceError:
            # Seen on PostgreSQL before e1612dd (the integrated log's shared pipeline cursor): "the last
            # operation didn't produce records". Nothing was stored; build that save again, and count it.
            refused += 1
            app.repository.cache.get(ledger.id, evict=True)
            ledger = app.repository.get(ledger.id)
    app.snapshotter.flush()


refused = 0  # saves of the build the store refused (see grow)


def first_write(store: Store, district: str, snapshots: bool) -> tuple[float, float]:
    """(ms of the first write to `district` after a restart, ms of a second one, cached)."""
    # No runner: the views of a long district are rescored after each write (issue 15, part 2), in a thread that
    # would share the GIL with the write timed here; the write still catches the Merkle log up for its receipt.
    app = KaoheApp.from_url(store.url, follow=False, **store.extra,
                            **({} if snapshots else {"IS_SNAPSHOTTING_ENABLED": "n"}))
    try:
        app.record_finding(OFFICE, year=2018, district=SHORT, clause="8.2.b", occurred_on="2018-05-01")
        settled(app)
        t = time.perf_counter()
        app.record_finding(OFFICE, year=2018, district=district, clause="8.2.b", occurred_on="2018-05-01")
        first = (time.perf_counter() - t) * 1e3
        app.snapshotter.flush()  # a snapshot the write asked for is not the cached write's cost
        settled(app)
        t = time.perf_counter()
        app.record_finding(OFFICE, year=2018, district=district, clause="8.2.b", occurred_on="2018-05-01")
        return first, (time.perf_counter() - t) * 1e3
    finally:
        app.close()


def bench(kind: str, events: int, restarts: int) -> None:
    store = Store(kind)
    try:
        app = store.app()
        interval = app.snapshot_interval
        cases = {"best": events, "worst": events + interval - 2}  # events when built; each restart adds one first
        longs = {(case, i): f"D-{case}-{i}" for case in cases for i in range(restarts)}
        app.open_year(ADMIN, year=2018, rubric="dalian-2018", districts=[SHORT, *longs.values()])
        t = time.perf_counter()
        for (case, _), district in longs.items():
            grow(app, district, cases[case])
        settled(app)  # no restart then catches up on the build while a write is timed
        say(f"[{kind}] {len(longs)} districts of {events:,}+ events stored in {time.perf_counter() - t:.1f} s "
            f"(a snapshot every {interval} events; {refused} save(s) of the build refused by the store and redone)")
        app.close()
        for case, built in cases.items():
            on, off, warm = [], [], []
            for i in range(restarts):
                district = longs[(case, i)]
                off.append(first_write(store, district, snapshots=False)[0])
                first, cached = first_write(store, district, snapshots=True)
                on.append(first)
                warm.append(cached)
            a, b, w = statistics.median(on), statistics.median(off), statistics.median(warm)
            folded = built + 1 - (built // interval) * interval
            say(f"[{kind}] first write after a restart to a district of {built + 1:,} events ({folded} after its "
                f"newest snapshot), median of {restarts}: with snapshots {a:.1f} ms (target < {TARGET_MS:.0f} ms: "
                f"{a / TARGET_MS:.2f}x the target); without {b:.1f} ms ({b / a:.1f}x slower); "
                f"cached {w:.1f} ms ({a / w:.1f}x this floor)")
    finally:
        store.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--restarts", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="SQLite only, 3 restarts")
    args = parser.parse_args()
    stores, restarts = (["sqlite"], 3) if args.quick else (args.stores.split(","), args.restarts)
    for kind in stores:
        bench(kind, args.events, restarts)


if __name__ == "__main__":
    main()
