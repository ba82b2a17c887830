"""Benchmark of `kaohe replay` (the full, live rebuild of every view with the history verified in the same pass).

  ops/bench --rebuild                   10k, 100k and 1M findings over 3,000 districts (SQLite; 1M takes minutes)
  ops/bench --rebuild --quick           10k and 100k only (under 2 minutes once the stores are cached)
  ops/bench --rebuild --stores sqlite,postgres   PostgreSQL too (at 10k and 100k only: its fill is slow)
  .venv/bin/python -O ops/bench_rebuild.py --sizes 100000 --profile   cProfile of one replay (to stderr; with
                                        KAOHE_BENCH_TRACEMALLOC=1 also tracemalloc, which slows it a lot)

For each size it prints, beside their ceilings measured in the same run:
- the raw floor: SELECT of every stored event and orjson.loads of its state (best of 2), in a fresh child
  process just before the replay;
- the replay's time (one `KaoheApp.replay` in that process: nothing cached) and its ratio to the floor
  (target at 1M <= 5x);
- the replay's peak RSS (the child's VmHWM; target <= 300 MB);
- at the end, growth 100k -> 1M of the replay time (target <= 11x: linear would be 10x).
Wall and CPU time are both printed: on a shared machine the CPU-time ratios are the steadier figures.

Stores are filled once and cached under /tmp/kaohe-bench-rebuild/ (keyed by store, size and FILL_VERSION; delete
the folder to fill afresh). The fill is `ops.bench.fill` (the domain's own commands, 200 events per save, every
event hash-chained and signed), then the log caught up and one signed checkpoint per tenth of the history, as
the receipts of a running service would have left them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

CACHE = Path(os.environ.get("KAOHE_BENCH_CACHE", "/tmp/kaohe-bench-rebuild"))
FILL_VERSION = 1  # bump when fill() changes what it writes
DISTRICTS = 3000
YEAR = 2018
POSTGRES_URL = os.environ.get("KAOHE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
RATIO_TARGET, GROWTH_TARGET, RSS_TARGET = 5.0, 11.0, 300.0


def say(text: str) -> None:
    print(text, flush=True)


# --- stores -------------------------------------------------------------------------------

def filled(app_of_url, url: str, total: int, extra: dict[str, str]) -> float:
    """Fill the store at `url`; return the seconds it took."""
    from ops.bench import fill

    t = time.perf_counter()
    app = app_of_url(url, extra)
    try:
        fill(app, total, DISTRICTS)
        app.log_integration.run()
        size = app.log_tree(YEAR).size()
        for tenth in range(1, 11):  # the receipts of a running service leave checkpoints all along the log
            app.sign_checkpoint(YEAR, size * tenth // 10)
    finally:
        app.close()
    return time.perf_counter() - t


def _app(url: str, extra: dict[str, str]):
    from api.service import KaoheApp

    return KaoheApp.from_url(url, follow=False, **extra)


def sqlite_store(total: int) -> Path:
    """A private copy of the cached store of `total` findings (filled first if not cached); its folder."""
    cached = CACHE / f"sqlite-{total}x{DISTRICTS}-v{FILL_VERSION}"
    if not (cached / "done").exists():
        shutil.rmtree(cached, ignore_errors=True)
        cached.mkdir(parents=True)
        seconds = filled(_app, f"sqlite:///{cached}/kaohe.sqlite3", total, {})
        (cached / "done").write_text(f"{seconds:.1f}\n")
        say(f"[sqlite] {total:,} findings over {DISTRICTS:,} districts filled in {seconds:.1f} s (cached in {cached})")
    work = Path(tempfile.mkdtemp(prefix="kaohe-bench-rebuild-"))
    for name in ("kaohe.sqlite3", "kaohe-log.key"):
        shutil.copy(cached / name, work / name)
    return work


def postgres_store(total: int) -> str:
    """A fresh PostgreSQL schema filled with `total` findings (not cached); its name."""
    import uuid

    import psycopg

    schema = f"bench_rebuild_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    seconds = filled(_app, POSTGRES_URL, total, {"POSTGRES_SCHEMA": schema})
    say(f"[postgres] {total:,} findings over {DISTRICTS:,} districts filled in {seconds:.1f} s")
    return schema


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


# --- what is measured -----------------------------------------------------------------------

def raw_floor(app) -> dict:
    """SELECT every stored event and orjson.loads its state, best of 2: wall and CPU seconds, events."""
    from api.service.history import raw_rows

    best, cpu, count = float("inf"), float("inf"), 0
    for _ in range(2):
        t, c = time.perf_counter(), time.process_time()
        count = 0
        loads = orjson.loads
        for row in raw_rows(app):
            loads(row[2])
            count += 1
        best, cpu = min(best, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return {"seconds": best, "cpu": cpu, "events": count}


def replay_in_child(url: str, extra: dict[str, str], profile: bool = False) -> dict:
    """One `replay` in a fresh process: its seconds, peak RSS (MB) and whether it verified."""
    env = {**os.environ, "KAOHE_BENCH_EXTRA": json.dumps(extra)}
    args = [sys.executable, *(["-O"] if not __debug__ else []), __file__, "--child", url]
    if profile:
        args.append("--profile")
    out = subprocess.run(args, check=False, env=env, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"the replay failed:\n{out.stderr[-4000:]}")
    if profile:
        sys.stderr.write(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(url: str, profile: bool) -> None:
    """The floor, then one replay, in this fresh process (the floor first: it leaves nothing cached in Python,
    and the replay's peak RSS is this process's)."""
    extra = json.loads(os.environ.get("KAOHE_BENCH_EXTRA", "{}"))
    app = _app(url, extra)
    try:
        floor = raw_floor(app)
        cpu = time.process_time()
        if profile:
            import cProfile
            import pstats
            import tracemalloc

            if os.environ.get("KAOHE_BENCH_TRACEMALLOC"):  # slows allocation a lot: the times are then off
                tracemalloc.start(1)
            profiler = cProfile.Profile()
            t = time.perf_counter()
            profiler.enable()
            result = app.replay(YEAR)
            profiler.disable()
            seconds = time.perf_counter() - t
            if tracemalloc.is_tracing():
                snapshot = tracemalloc.take_snapshot()
                current, peak = tracemalloc.get_traced_memory()
                print(f"tracemalloc: peak {peak / 2**20:.0f} MB, at the end {current / 2**20:.0f} MB", file=sys.stderr)
                for stat in snapshot.statistics("lineno")[:12]:
                    print(f"  {stat}", file=sys.stderr)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(35)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_callers(r"execute")
        else:
            t = time.perf_counter()
            result = app.replay(YEAR)
            seconds = time.perf_counter() - t
        cpu = time.process_time() - cpu
    finally:
        app.close()
    print(json.dumps({"seconds": seconds, "cpu": cpu, "floor": floor, "rss_mb": peak_rss_mb(),
                      "ok": result["verified"]["ok"], "districts": len(result["districts"])}))


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(kind: str, total: int, profile: bool = False) -> dict:
    """Print one size's figures; return the replay's measures."""
    if kind == "sqlite":
        work = sqlite_store(total)
        url, extra = f"sqlite:///{work}/kaohe.sqlite3", {}
    else:
        schema = postgres_store(total)
        url, extra = POSTGRES_URL, {"POSTGRES_SCHEMA": schema}
    try:
        run = replay_in_child(url, extra, profile)
    finally:
        if kind == "sqlite":
            shutil.rmtree(work, ignore_errors=True)
        else:
            drop_schema(schema)
    floor = run["floor"]
    ratio, cpu_ratio = run["seconds"] / floor["seconds"], run["cpu"] / floor["cpu"]
    missed = ", MISSED" if total >= 1_000_000 and ratio > RATIO_TARGET else ""
    say(f"[{kind}] {total:>9,} findings ({floor['events']:,} events): raw floor {floor['seconds']:6.2f} s "
        f"(CPU {floor['cpu']:.2f} s) | replay {run['seconds']:7.2f} s (CPU {run['cpu']:.2f} s) = {ratio:5.1f}x floor, "
        f"CPU {cpu_ratio:.1f}x (target at 1M <= {RATIO_TARGET:g}x{missed}) | peak RSS {run['rss_mb']:4.0f} MB "
        f"(target <= {RSS_TARGET:g}{'' if run['rss_mb'] <= RSS_TARGET else ', MISSED'}) | verified {run['ok']}")
    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", default="sqlite", help="sqlite, postgres or both (postgres: 10k and 100k only)")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--quick", action="store_true", help="10k and 100k only")
    parser.add_argument("--profile", action="store_true", help="cProfile and tracemalloc of each replay (slower)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.profile)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        sizes = [s for s in sizes if s <= 100_000]
    say(f"kaohe replay benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores")
    for kind in args.stores.split(","):
        times = {}
        for size in sizes:
            if kind == "postgres" and size > 100_000:
                say(f"[postgres] {size:,}: skipped (PostgreSQL is measured at 10k and 100k)")
                continue
            times[size] = bench(kind, size, args.profile)
        if 100_000 in times and 1_000_000 in times:
            small, large = times[100_000], times[1_000_000]
            growth, cpu = large["seconds"] / small["seconds"], large["cpu"] / small["cpu"]
            say(f"[{kind}] growth 100k -> 1M: {growth:.1f}x, CPU {cpu:.1f}x (target <= {GROWTH_TARGET:g}x; linear "
                f"is 10x{'' if growth <= GROWTH_TARGET else ', MISSED'})")


if __name__ == "__main__":
    main()
