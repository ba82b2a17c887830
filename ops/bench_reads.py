"""Read benchmarks (issue 15, parts 2 and 3). Not tests: each figure is printed beside its target and
a ceiling measured in the same run (this machine is small, shared and noisy: read the ratios).

  .venv/bin/python ops/bench_reads.py                      the full run: the ranking and the mixed load over 3,000
                                                           districts at 10k, 100k and 1M findings (the stores of
                                                           ops/bench_rebuild.py, cached; the first 1M fill takes
                                                           minutes, its views' replay another 1-2)
  .venv/bin/python ops/bench_reads.py --findings 100000    the ranking part at that history length only
  .venv/bin/python ops/bench_reads.py --quick              fewer requests, the ranking over 1,000 districts, 2,000 findings
  .venv/bin/python ops/bench_reads.py --only ranking       one part (breakdown | ranking)

`kaohe serve` (1 worker, SQLite) answers a store filled by ops/bench.fill(); the load comes from
this second process over 127.0.0.1: 32 keep-alive connections on asyncio, one request in flight
on each, bounded counts. The ceiling for reads is a trivial FastAPI GET (`trivial_app`, the same
uvicorn settings, a sync route like kaohe's) loaded the same way in the same run.

  breakdown   a district with 3,000 findings, 32 clients: >= 3,000 reads/s, p99 < 20 ms
  ranking     of 3,000 districts, read right after a write: p50 < 5 ms
  mixed       16 writers + 16 readers of the ranking, 3,000 districts: read p99 < 20 ms, >= 1,000 writes/s
              (ceilings: the same 16 writers alone, and a plain SQLite INSERT + COMMIT loop)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from ops.bench import OFFICE, Store, fill, say  # noqa: E402
from ops.bench_http import KAOHE, free_port, percentile, token  # noqa: E402

CLIENTS = 32
YEAR = 2018


def trivial_app():
    """The ceiling: a FastAPI GET that does nothing (a sync route, as kaohe's routes are)."""
    from fastapi import FastAPI, Response

    app = FastAPI()

    @app.get("/t")
    def trivial() -> Response:
        return Response(b'{"ok":true}', media_type="application/json")

    return app


# --- the load generator ------------------------------------------------------------------

class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; `request()` sends prepared bytes and waits for the whole answer."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.answer: asyncio.Future | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.answer is None:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15:head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None]) if at >= 0 else 0
        if len(self.buffer) < end + 4 + length:
            return
        body = bytes(self.buffer[end + 4:end + 4 + length])
        del self.buffer[:end + 4 + length]
        answer, self.answer = self.answer, None
        answer.set_result((int(head[9:12]), head, body))

    async def request(self, raw: bytes) -> tuple[int, bytes, bytes]:
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(raw)  # type: ignore[union-attr]
        return await self.answer


def request(method: str, path: str, bearer: str | None = None, body: dict | None = None,
            headers: dict[str, str] | None = None) -> bytes:
    payload = orjson.dumps(body) if body is not None else b""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(payload)}"]
    if bearer:
        lines.append(f"Authorization: Bearer {bearer}")
    if body is not None:
        lines.append("Content-Type: application/json")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def connect(port: int) -> Connection:
    _, conn = await asyncio.get_running_loop().create_connection(Connection, "127.0.0.1", port)
    return conn


async def load(port: int, count: int, make: Callable[[int], bytes], clients: int) -> tuple[float, list[float]]:
    """`count` requests over `clients` connections, as fast as the server answers; (seconds, latencies)."""
    latencies: list[float] = []
    remaining = iter(range(count))

    async def client() -> None:
        conn = await connect(port)
        for i in remaining:
            t = time.perf_counter()
            status, _, body = await conn.request(make(i))
            latencies.append(time.perf_counter() - t)
            if status >= 400:
                raise RuntimeError(f"{status}: {body[:200]!r}")
        conn.transport.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - start, latencies


def filled(store: Store, total: int, districts: int):
    """The store filled by ops/bench.fill(), its views caught up; the app that did it (no runner thread: a read
    catches up itself)."""
    from api.service import KaoheApp

    app = KaoheApp.from_url(store.url, follow=False, **store.extra)
    fill(app, total, districts)
    app.catch_up()
    return app


# --- servers -----------------------------------------------------------------------------

class Server:
    """A uvicorn process on a free port: `kaohe serve` over a store, or the trivial app."""

    def __init__(self, env: dict[str, str], command: list[str]):
        self.port = free_port()
        self.process = subprocess.Popen([*command, "--port", str(self.port)], env=env, cwd=ROOT,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    @classmethod
    def kaohe(cls, url: str) -> tuple[Server, dict[str, str]]:
        env = {**os.environ, "KAOHE_DATABASE_URL": url}
        tokens = {"office": token(env, "bench-office", "office"), "auditor": token(env, "bench-auditor", "auditor")}
        return cls(env, [KAOHE, "serve"]), tokens

    @classmethod
    def trivial(cls) -> Server:
        return cls(dict(os.environ), [sys.executable, "-m", "uvicorn", "ops.bench_reads:trivial_app", "--factory",
                                      "--log-level", "warning", "--no-access-log"])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def rate(label: str, count: int, elapsed: float, latencies: list[float]) -> tuple[float, float, float]:
    per_second, p50, p99 = count / elapsed, percentile(latencies, 50), percentile(latencies, 99)
    say(f"  {label}: {per_second:,.0f}/s (p50 {p50:.1f} ms, p99 {p99:.1f} ms)")
    return per_second, p50, p99


def ceiling(loop: asyncio.AbstractEventLoop, reads: int) -> float:
    server = Server.trivial()
    try:
        raw = request("GET", "/t")
        loop.run_until_complete(load(server.port, min(reads, 2000), lambda _: raw, CLIENTS))  # warm
        elapsed, lat = loop.run_until_complete(load(server.port, reads, lambda _: raw, CLIENTS))
        return rate(f"ceiling: trivial FastAPI GET, {CLIENTS} clients", reads, elapsed, lat)[0]
    finally:
        server.stop()


# --- 2. a district's breakdown ------------------------------------------------------------------

def bench_breakdown(loop: asyncio.AbstractEventLoop, reads: int) -> None:
    say("[breakdown] one district with 3,000 findings (7 flag clauses and 5.4.b, all live)")
    store = Store("sqlite")
    app = filled(store, 3000, 1)
    cold = {3000: _cold_reads(app)}
    for size in (10, 300):
        smaller = Store("sqlite")
        other = filled(smaller, size, 1)
        cold[size] = _cold_reads(other)
        other.close()
        smaller.drop()
    say(f"  in-process read, nothing remembered (median of 50): {cold[10]:.2f} ms at 10 findings, {cold[300]:.2f} ms "
        f"at 300, {cold[3000]:.2f} ms at 3,000 (3,000 / 300: {cold[3000] / cold[300]:.2f}x; a clause shows at most "
        f"10, so 10 findings show fewer)")
    app.close()
    server, tokens = Server.kaohe(store.url)
    try:
        raw = request("GET", f"/api/years/{YEAR}/districts/D0000/score", tokens["auditor"])
        status, _, body = loop.run_until_complete(_one(server.port, raw))
        assert status == 200, body[:300]
        shown = sum(len(cl["findings"]) for c in orjson.loads(body)["categories"] for i in c["indicators"]
                    for cl in i["clauses"])
        say(f"  an answer: {len(body):,} bytes, {shown} findings shown of 3,000 (?findings=all lists every one)")
        loop.run_until_complete(load(server.port, min(reads, 2000), lambda _: raw, CLIENTS))  # warm
        elapsed, lat = loop.run_until_complete(load(server.port, reads, lambda _: raw, CLIENTS))
        got, _, p99 = rate(f"breakdown reads, {CLIENTS} clients", reads, elapsed, lat)
    finally:
        server.stop()
    top = ceiling(loop, reads)
    say(f"  => {got:,.0f} reads/s (target >= 3,000) = {got / top:.0%} of the trivial GET's {top:,.0f}/s; "
        f"p99 {p99:.1f} ms (target < 20 ms)")
    store.drop()


def _cold_reads(app) -> float:
    costs = []
    for _ in range(50):
        t = time.perf_counter()
        app.district_score(OFFICE, YEAR, "D0000")
        costs.append(time.perf_counter() - t)
    return statistics.median(costs) * 1e3


async def _one(port: int, raw: bytes) -> tuple[int, bytes, bytes]:
    conn = await connect(port)
    try:
        return await conn.request(raw)
    finally:
        conn.transport.close()


# --- 3. the ranking ---------------------------------------------------------------------------

class CachedStore:
    """A private copy of one of ops/bench_rebuild.py's cached stores (3,000 districts), its views replayed."""

    def __init__(self, findings: int):
        from ops.bench_rebuild import sqlite_store

        self.folder = sqlite_store(findings)
        self.url, self.extra = f"sqlite:///{self.folder}/kaohe.sqlite3", {}

    def app(self):
        from api.service import KaoheApp

        app = KaoheApp.from_url(self.url, follow=False)
        t = time.perf_counter()
        app.replay(YEAR)  # the cached stores hold events and the log, not the views
        say(f"  (views replayed in {time.perf_counter() - t:.0f} s)")
        return app

    def drop(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


def bench_ranking(loop: asyncio.AbstractEventLoop, districts: int, samples: int, writes: int, reads: int,
                  findings: int | None = None) -> None:
    """`findings`: over the 3,000 districts of a cached store of that many (else twice `districts`, filled here)."""
    if findings is None:
        say(f"[ranking] {districts:,} districts, {2 * districts:,} findings")
        store = Store("sqlite")
        app = filled(store, 2 * districts, districts)
    else:
        store = CachedStore(findings)
        say(f"[ranking] 3,000 districts, {findings:,} findings")
        app = store.app()
    _in_process_ranking(app, samples)
    app.close()
    server, tokens = Server.kaohe(store.url)
    try:
        office = tokens["office"]
        scores = request("GET", f"/api/years/{YEAR}/scores", office)
        loop.run_until_complete(_one(server.port, scores))

        def finding(i: int) -> bytes:
            return request("POST", f"/api/years/{YEAR}/districts/D{i % districts:04d}/findings", office,
                           {"clause": "8.2.b", "occurred_on": "2018-05-01", "note": f"bench {i}"})

        after = loop.run_until_complete(_read_after_writes(server.port, samples, finding, office))
        say(f"  ranking read right after a write over HTTP (write, 50 ms pause, then GET with Kaohe-Read-After; "
            f"{samples} samples): p50 {percentile(after, 50):.1f} ms (target < 5 ms), "
            f"p99 {percentile(after, 99):.1f} ms")
        trivial = _sequential_trivial(loop, samples)
        say(f"  ceiling: one trivial FastAPI GET at a time: p50 {percentile(trivial, 50):.2f} ms "
            f"(ranking after a write = {percentile(after, 50) / percentile(trivial, 50):.1f}x)")

        # Each district's first write since the server started loads its ledger from the store (its snapshot and
        # the events after it): timed on its own, so that the writers below measure a server that has run a while.
        elapsed, lat = loop.run_until_complete(load(server.port, districts, lambda i: finding(200_000 + i), 16))
        rate(f"warm-up: one write to each of the {districts:,} districts, 16 writers (each the district's first "
             f"since the server started: its ledger is loaded)", districts, elapsed, lat)
        elapsed, lat = loop.run_until_complete(load(server.port, writes, lambda i: finding(10_000 + i), 16))
        alone, _, _ = rate("ceiling: 16 writers alone", writes, elapsed, lat)

        # Readers are other users (the auditor): a read waits only for its own caller's writes
        # (api.service.own_writes). Then the same with the writers' own token, whose reads wait for each write.
        others = request("GET", f"/api/years/{YEAR}/scores", tokens["auditor"])
        loop.run_until_complete(_one(server.port, others))

        async def mixed(read: bytes, start: int):
            return await asyncio.gather(load(server.port, writes, lambda i: finding(start + i), 16),
                                        load(server.port, reads, lambda _: read, 16))

        (w_elapsed, w_lat), (r_elapsed, r_lat) = loop.run_until_complete(mixed(others, 50_000))
        w, _, _ = rate("mixed: 16 writers", writes, w_elapsed, w_lat)
        _, _, r99 = rate("mixed: 16 readers of the ranking (another user)", reads, r_elapsed, r_lat)
        (sw_elapsed, sw_lat), (sr_elapsed, sr_lat) = loop.run_until_complete(mixed(scores, 90_000))
        rate("mixed again: 16 writers", writes, sw_elapsed, sw_lat)
        rate("mixed again: 16 readers of the ranking with the writers' token (each read waits for their writes)",
             reads, sr_elapsed, sr_lat)
        commits = _sqlite_commits()
        say(f"  ceiling: plain SQLite INSERT + COMMIT loop (WAL, synchronous=NORMAL): {commits:,.0f} commits/s")
        say(f"  => mixed: {w:,.0f} writes/s (target >= 1,000) = {w / alone:.0%} of the writers alone, "
            f"{w / commits:.0%} of the commit loop; read p99 {r99:.1f} ms (target < 20 ms)")
    finally:
        server.stop()
        store.drop()


def _in_process_ranking(app, samples: int) -> None:
    """The route's work for the ranking after one write (the views caught up), against the whole ranking
    rescored and rendered again from the stored rows (what every write cost before)."""
    from api.http import models as m
    from api.http import ranking_json
    from api.service.reads.scores import rank
    from projections.catchup import loads

    renderer = ranking_json.RankingJSON()
    names = app.year_info(YEAR)["districts"]
    renderer.render(*app.ranking(OFFICE, YEAR, ranking_json.line))
    incremental, full = [], []
    for i in range(samples):
        app.record_finding(OFFICE, year=YEAR, district=f"D{(i * 7) % len(names):04d}", clause="8.2.b",
                           occurred_on="2018-05-01")
        app.fresh()
        t = time.perf_counter()
        renderer.render(*app.ranking(OFFICE, YEAR, ranking_json.line))
        incremental.append(time.perf_counter() - t)
        t = time.perf_counter()
        head, _ = app.ranking(OFFICE, YEAR)
        ranked = rank([loads(s) for (s,) in app.views.query(
            "SELECT summary FROM view_districts WHERE year = ? AND summary IS NOT NULL", (YEAR,))],
            app.year_info(YEAR)["districts"])
        m.Ranking.model_validate({**head, "districts": [
            {"district": r["district"], "total": Decimal(r["total"]), "rank": r["rank"], "signed_off": r["signed_off"],
             "categories": {c["id"]: Decimal(c["score"]) for c in r["categories"]}} for r in ranked]}).model_dump_json()
        full.append(time.perf_counter() - t)
    a, b = statistics.median(incremental) * 1e3, statistics.median(full) * 1e3
    say(f"  in process, after a write: the ranking kept in memory and its changed lines {a:.2f} ms (median of "
        f"{samples}); decoding, ranking and rendering all {len(names):,} again {b:.1f} ms ({b / a:.0f}x)")


async def _read_after_writes(port: int, samples: int, finding: Callable[[int], bytes], bearer: str) -> list[float]:
    conn = await connect(port)
    costs = []
    for i in range(samples):
        status, head, body = await conn.request(finding(i))
        assert status == 201, body[:300]
        at = head.find(b"kaohe-position:")
        position = int(head[at + 15:head.find(b"\r\n", at)].strip())
        await asyncio.sleep(0.05)
        raw = request("GET", f"/api/years/{YEAR}/scores", bearer, headers={"Kaohe-Read-After": str(position)})
        t = time.perf_counter()
        status, _, body = await conn.request(raw)
        costs.append(time.perf_counter() - t)
        assert status == 200, body[:300]
    conn.transport.close()
    return costs


def _sequential_trivial(loop: asyncio.AbstractEventLoop, samples: int) -> list[float]:
    server = Server.trivial()
    try:
        raw = request("GET", "/t")
        return loop.run_until_complete(load(server.port, samples, lambda _: raw, 1))[1]
    finally:
        server.stop()


def _sqlite_commits(count: int = 2000) -> float:
    with tempfile.TemporaryDirectory() as home:
        db = sqlite3.connect(f"{home}/floor.sqlite3", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data TEXT)")
        t = time.perf_counter()
        for i in range(count):
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO t (data) VALUES (?)", (f"row {i}",))
            db.execute("COMMIT")
        elapsed = time.perf_counter() - t
        db.close()
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests, the ranking over 1,000 districts")
    parser.add_argument("--only", choices=["breakdown", "ranking"], help="one part only")
    parser.add_argument("--findings", default="10000,100000,1000000",
                        help="history lengths of the full run's ranking part, over 3,000 districts")
    args = parser.parse_args()
    # --quick: the ranking over 1,000 districts (filling and projecting 3,000 takes minutes on a busy machine)
    reads, samples, writes, districts = (3000, 20, 600, 1000) if args.quick else (20000, 200, 4000, 3000)
    sizes = [None] if args.quick else [int(n) for n in args.findings.split(",")]
    say(f"ops/bench_reads.py{' --quick' if args.quick else ''}: {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    loop = asyncio.new_event_loop()
    if args.only in (None, "breakdown"):
        bench_breakdown(loop, reads)
    if args.only in (None, "ranking"):
        for findings in sizes:
            bench_ranking(loop, districts, samples, writes, reads // 2, findings)


if __name__ == "__main__":
    main()
