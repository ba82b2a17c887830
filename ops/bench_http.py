"""The HTTP benchmark: `kaohe serve` (1 worker, SQLite) loaded from this second process over 127.0.0.1.

32 concurrent keep-alive clients, bounded counts: findings recorded per second, score reads
per second with their p50/p99 latency, and score reads while findings are being written.
Targets: >= 1,000 findings/s; score read p99 < 20 ms.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KAOHE = str(Path(sys.executable).with_name("kaohe"))
CLIENTS = int(os.environ.get("KAOHE_BENCH_CLIENTS", "32"))
FINDINGS = int(os.environ.get("KAOHE_BENCH_FINDINGS", "6000"))
READS = int(os.environ.get("KAOHE_BENCH_READS", "6000"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token(env: dict[str, str], name: str, role: str) -> str:
    out = subprocess.run([KAOHE, "token", "create", "--name", name, "--role", role], env=env, check=True,
                         capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


class Client:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams (the load generator must not be the bottleneck)."""

    def __init__(self, port: int, bearer: str):
        self.port, self.bearer = port, bearer
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        payload = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.bearer}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
        self.writer.write(head.encode("utf-8") + payload)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
        data = await self.reader.readexactly(length)
        return int(status_line.split()[1]), data


async def run_load(port: int, bearer: str, count: int, make_request, clients: int = CLIENTS) -> tuple[float, list[float]]:
    latencies: list[float] = []
    remaining = iter(range(count))

    async def worker() -> None:
        client = Client(port, bearer)
        for i in remaining:
            method, path, body = make_request(i)
            t = time.perf_counter()
            status, data = await client.request(method, path, body)
            latencies.append(time.perf_counter() - t)
            if status >= 400:
                raise RuntimeError(f"{method} {path}: {status} {data[:200]!r}")

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - start, latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1e3


def wrk_reads(port: int, bearer: str, seconds: int = 5) -> None:
    """The same score reads measured by wrk (C, Debian package `wrk`): the Python load generator
    adds its own scheduling delay to every latency it measures at these rates."""
    wrk = shutil.which("wrk")
    if wrk is None:
        print("[http] wrk not installed (apt-get install wrk): score reads measured by the Python client only")
        return
    out = subprocess.run([wrk, "-t1", f"-c{CLIENTS}", f"-d{seconds}s", "--latency",
                          "-H", f"Authorization: Bearer {bearer}", f"http://127.0.0.1:{port}/api/years/2018/scores"],
                         capture_output=True, text=True, check=True).stdout
    figures = {m.group(1): m.group(2) for m in re.finditer(r"^\s*(50%|99%|Requests/sec:)\s+(\S+)", out, re.M)}
    print(f"[http] score reads by wrk, {CLIENTS} connections, {seconds} s: {float(figures['Requests/sec:']):,.0f} "
          f"reads/s (p50 {figures['50%']}, p99 {figures['99%']})", flush=True)


def main() -> None:
    workdir = tempfile.mkdtemp(prefix="kaohe-bench-http-")
    env = {**os.environ, "KAOHE_DATABASE_URL": f"sqlite:///{workdir}/kaohe.sqlite3"}
    admin, office = token(env, "bench-admin", "admin"), token(env, "bench-office", "office")
    auditor = token(env, "bench-auditor", "auditor")
    districts = [f"D{i:02d}" for i in range(30)]
    port = free_port()
    server = subprocess.Popen([KAOHE, "serve", "--port", str(port)], env=env, cwd=workdir,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        loop = asyncio.new_event_loop()
        opened = loop.run_until_complete(Client(port, admin).request(
            "POST", "/api/years", {"year": 2018, "rubric": "dalian-2018", "districts": districts}))
        assert opened[0] == 201, opened

        def finding(i: int):
            return ("POST", f"/api/years/2018/districts/{districts[i % len(districts)]}/findings",
                    {"clause": "8.2.b", "occurred_on": "2018-05-01", "note": f"bench {i}"})

        def read(_: int):
            return ("GET", "/api/years/2018/scores", None)

        elapsed, lat = loop.run_until_complete(run_load(port, office, FINDINGS, finding))
        print(f"[http] {FINDINGS:,} findings, {CLIENTS} clients: {FINDINGS / elapsed:,.0f} findings/s "
              f"(p50 {percentile(lat, 50):.1f} ms, p99 {percentile(lat, 99):.1f} ms)", flush=True)
        elapsed, lat = loop.run_until_complete(run_load(port, office, READS, read))
        print(f"[http] {READS:,} score reads, {CLIENTS} clients: {READS / elapsed:,.0f} reads/s "
              f"(p50 {percentile(lat, 50):.1f} ms, p99 {percentile(lat, 99):.1f} ms)", flush=True)

        wrk_reads(port, office)

        async def mixed():
            # The readers are another user: a read waits only for its own caller's writes (api.service.own_writes).
            writes = run_load(port, office, FINDINGS // 2, finding, clients=CLIENTS // 2)
            reads = run_load(port, auditor, READS // 2, read, clients=CLIENTS // 2)
            return await asyncio.gather(writes, reads)

        (w_elapsed, w_lat), (r_elapsed, r_lat) = loop.run_until_complete(mixed())
        print(f"[http] mixed, 16 writers + 16 readers: {FINDINGS // 2 / w_elapsed:,.0f} findings/s, "
              f"{READS // 2 / r_elapsed:,.0f} reads/s; read p50 {percentile(r_lat, 50):.1f} ms, "
              f"p99 {percentile(r_lat, 99):.1f} ms", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
