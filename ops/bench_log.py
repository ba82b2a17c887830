"""Benchmark of the verifiable log (not a test): prints its figures; record them in docs/verifiable-log.md.

  .venv/bin/python ops/bench_log.py                  appends on/off (SQLite, PostgreSQL), proofs at 1M leaves
  .venv/bin/python ops/bench_log.py --stores sqlite --leaves 100000
  .venv/bin/python ops/bench_log.py --stores "" --http-stores sqlite   the HTTP rounds only (and the proofs)

Appends: the same service, the same run, rounds alternating between the log on (events signed, the Merkle
log and a signed checkpoint added in each write's own transaction, an inclusion proof for every receipt) and
off (no signer, nothing added to the log: the rate before issue 10): one writer, one command per write; 8 writer threads; and
group-committed batches of 32 (what the HTTP findings route does).
Target: on within 15% of off. Through HTTP too (`--http-writes`, 0 to skip): the same server (`kaohe serve`'s
application under uvicorn, SQLite) with the log on and off, on a store each, in alternating rounds; 16 writers
post findings, group-committed as they arrive, after one warm-up write to every district. Proofs: the node table of a 1M-leaf tree is written straight into the view
tables (not through 1M events), then inclusion and consistency proofs are read from it as the API does.
Target: under 1 ms a proof.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from domain import merkle  # noqa: E402
from domain.ledger import ledger_id  # noqa: E402
from ops.bench import ADMIN, OFFICE, Store, say  # noqa: E402
from projections.merkle_log import Frontier, LogTree  # noqa: E402
from projections.store import ViewStore  # noqa: E402

WRITERS = 8  # as a server's worker threads write (sync routes)


def switch(app, on: bool, saved: dict) -> None:
    """Log and signatures on, or off as before issue 10 (no event signatures, nothing added to the log)."""
    if not saved:
        saved.update(signer=app.log_signer, integration=app.recorder.integration)
    app.log_signer = saved["signer"] if on else None
    app.recorder.integration = saved["integration"] if on else None
    app.runner.also = [saved["integration"]] if on else []
    if on:
        app.log_integration.run()  # add what the off round wrote to the log, outside the timing


def settled(app) -> None:
    """Every view caught up before a timed round, so no round pays for the scoring of the one before."""
    app.catch_up()
    if app.recorder.integration is not None:
        app.log_integration.run()


def bench_appends(kind: str, commands: int, rounds: int, batch: int) -> None:
    store = Store(kind)
    app = store.app()
    names = [f"D{i:04d}" for i in range(300)]
    app.open_year(ADMIN, year=2018, rubric="dalian-2018", districts=names)
    for name in names:
        app.repository.get(ledger_id(2018, name))
    saved: dict = {}
    rates: dict[tuple[str, bool], list[float]] = {}
    i = 0

    def finding() -> dict:
        nonlocal i
        i += 1
        return app.record_finding(OFFICE, year=2018, district=names[i % len(names)], clause="8.2.b",
                                  occurred_on="2018-05-01")

    for _ in range(rounds):
        for on in (True, False):
            switch(app, on, saved)
            settled(app)
            t = time.perf_counter()
            for _ in range(commands):
                answer = finding()
            rates.setdefault(("single", on), []).append(commands / (time.perf_counter() - t))
            assert (answer["receipt"].get("log") is not None) == on
            settled(app)
            t = time.perf_counter()
            threads = [threading.Thread(target=lambda: [finding() for _ in range(commands // WRITERS)])
                       for _ in range(WRITERS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            rates.setdefault((f"{WRITERS} writer threads", on), []).append(
                commands // WRITERS * WRITERS / (time.perf_counter() - t))
            settled(app)
            t = time.perf_counter()
            for _ in range(commands // batch):
                app.run_together([finding for _ in range(batch)])
            rates.setdefault((f"batches of {batch}", on), []).append(commands // batch * batch / (time.perf_counter() - t))
    for mode in ("single", f"{WRITERS} writer threads", f"batches of {batch}"):
        on, off = statistics.median(rates[(mode, True)]), statistics.median(rates[(mode, False)])
        say(f"[{kind}] appends, {mode}, median of {rounds} alternating rounds of {commands}: log on {on:,.0f}/s, "
            f"off {off:,.0f}/s ({(on / off - 1) * 100:+.1f}%; target within -15%)")
    app.close()
    store.drop()


def http_app():
    """uvicorn's factory for the HTTP rounds: kaohe's application over the store at KAOHE_DATABASE_URL, with the
    log off when KAOHE_BENCH_LOG=off (as `switch` turns it off; nothing in the product can)."""
    import os

    from api.asgi import create_app
    from api.service import KaoheApp

    service = KaoheApp.from_url()
    if os.environ.get("KAOHE_BENCH_LOG") == "off":
        switch(service, False, {})
    return create_app(service)


def bench_http_appends(kind: str, writes: int, rounds: int, districts: int = 300) -> None:
    import asyncio
    import os

    from ops.bench_reads import Server, load, request
    from ops.bench_http import token

    loop = asyncio.new_event_loop()
    stores, tokens, envs = {}, {}, {}
    names = [f"D{i:04d}" for i in range(districts)]
    for mode in ("on", "off"):
        store = stores[mode] = Store(kind)
        envs[mode] = {**os.environ, "KAOHE_DATABASE_URL": store.url, "KAOHE_BENCH_LOG": mode}
        if store.schema:  # PostgreSQL: the schema, and a key file this process, the command line and the server share
            envs[mode].update(KAOHE_POSTGRES_SCHEMA=store.schema,
                              KAOHE_LOG_KEY_FILE=f"{tempfile.mkdtemp(prefix='kaohe-bench-log-')}/kaohe-log.key")
            os.environ["KAOHE_LOG_KEY_FILE"] = envs[mode]["KAOHE_LOG_KEY_FILE"]  # for store.app() just below
        app = store.app()
        app.open_year(ADMIN, year=2018, rubric="dalian-2018", districts=names)
        app.close()
        tokens[mode] = token(envs[mode], "bench-office", "office")
    rates: dict[str, list[float]] = {"on": [], "off": []}
    count = 0
    try:
        for _ in range(rounds):
            for mode in ("on", "off"):
                env, bearer = envs[mode], tokens[mode]
                server = Server(env, [sys.executable, "-m", "uvicorn", "ops.bench_log:http_app",
                                      "--factory", "--log-level", "warning", "--no-access-log"])
                try:
                    def finding(i: int) -> bytes:
                        return request("POST", f"/api/years/2018/districts/{names[i % districts]}/findings", bearer,
                                       {"clause": "8.2.b", "occurred_on": "2018-05-01", "note": f"bench {i}"})

                    loop.run_until_complete(load(server.port, districts, finding, 16))  # each ledger loaded once
                    count += 1
                    elapsed, _ = loop.run_until_complete(load(server.port, writes, lambda i: finding(count * writes + i), 16))
                    rates[mode].append(writes / elapsed)
                finally:
                    server.stop()
    finally:
        for store in stores.values():
            store.drop()
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    say(f"[{kind}] HTTP findings, 16 writers (group commit), median of {rounds} alternating rounds of {writes}: "
        f"log on {on:,.0f}/s, off {off:,.0f}/s ({(on / off - 1) * 100:+.1f}%; target within -15%)")


def bench_proofs(leaves: int, samples: int = 2000) -> None:
    folder = tempfile.mkdtemp(prefix="kaohe-bench-log-")
    views = ViewStore({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": f"{folder}/views.sqlite3"})
    rng = random.Random(9162)
    tree = Frontier()
    t = time.perf_counter()
    with views.transaction() as tx:
        leaf_rows, node_rows = [], []
        for i in range(leaves):
            chain = rng.randbytes(32)
            leaf_rows.append((2018, i, chain.hex(), i + 1, "bench", i + 1))
            node_rows.extend((2018, level, j, h.hex()) for level, j, h in tree.append(merkle.leaf_hash(chain)))
            if len(node_rows) > 200_000:
                tx.executemany("INSERT INTO view_log_leaves VALUES (?, ?, ?, ?, ?, ?)", leaf_rows)
                tx.executemany("INSERT INTO view_log_nodes VALUES (?, ?, ?, ?)", node_rows)
                leaf_rows, node_rows = [], []
        tx.executemany("INSERT INTO view_log_leaves VALUES (?, ?, ?, ?, ?, ?)", leaf_rows)
        tx.executemany("INSERT INTO view_log_nodes VALUES (?, ?, ?, ?)", node_rows)
    say(f"[sqlite] {leaves:,}-leaf node table written straight into the views in {time.perf_counter() - t:.1f} s")
    log = LogTree(views.query, 2018)
    assert log.root(leaves) == tree.root()
    times, sizes = [], []
    for _ in range(samples):
        index = rng.randrange(leaves)
        t = time.perf_counter()
        leaf, proof, root = log.inclusion(index, leaves)
        answer = {"index": index, "size": leaves, "leaf_hash": leaf.hex(), "proof": [p.hex() for p in proof]}
        times.append(time.perf_counter() - t)
        sizes.append(len(proof))
        assert merkle.verify_inclusion(index, leaves, leaf, proof, root) and answer
    times.sort()
    say(f"[sqlite] inclusion proof at {leaves:,} leaves: median {statistics.median(times) * 1e3:.3f} ms, "
        f"p99 {times[int(len(times) * 0.99)] * 1e3:.3f} ms; {max(sizes)} hashes ({max(sizes) * 32} bytes) "
        f"(target < 1 ms)")
    times = []
    for _ in range(samples):
        first = rng.randrange(1, leaves)
        t = time.perf_counter()
        proof, _, _ = log.consistency(first, leaves)
        times.append(time.perf_counter() - t)
        sizes.append(len(proof))
    times.sort()
    say(f"[sqlite] consistency proof to {leaves:,} leaves: median {statistics.median(times) * 1e3:.3f} ms, "
        f"p99 {times[int(len(times) * 0.99)] * 1e3:.3f} ms")
    views.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--commands", type=int, default=640)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--http-writes", type=int, default=1000, help="findings per HTTP round (0: no HTTP rounds)")
    parser.add_argument("--http-stores", default="sqlite,postgres")
    args = parser.parse_args()
    for kind in filter(None, args.stores.split(",")):  # --stores "": the HTTP rounds and proofs only
        bench_appends(kind, args.commands, args.rounds, args.batch)
    for kind in args.http_stores.split(",") if args.http_writes else ():
        bench_http_appends(kind, args.http_writes, args.rounds)
    bench_proofs(args.leaves)


if __name__ == "__main__":
    main()
