"""The projection in a process of its own: `kaohe serve --projector process` on a SQLite file starts `kaohe project`.

A server process that also projects spends a third of its interpreter on it (scoring each district a write
touches, writing its rows), which the HTTP requests and the write path then wait for (measured: 16 writers
on 1,000 districts, 2.3 ms of server CPU per finding with the projection in it, 1.6-1.7 ms without). So the
projector process takes the store's leader lock (projections.leader.FileLeadership) before the server starts,
catches the views up and announces how far they are settled; the server's own runner follows that position,
as PostgreSQL's followers do, and takes the lock over if the projector stops (within TAKEOVER). The projector
ends with the server: the server stops it, and it stops by itself when the server is gone (killed included).

Not the default: on this project's 2-core benchmark machine, where the load generator needs the second core,
16 writers alone went 434-439 → 503-552 findings/s with it, but under 16 writers + 16 readers the readers fell
from 5,059-5,624 to 2,416-2,692 reads/s (p99 25-42 → 62-70 ms): the projector takes a core of its own.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from typing import Any

LEADING = "kaohe project: leading"  # the line the projector prints once it holds the lock
START_TIMEOUT = 30.0  # seconds the server waits for that line before serving anyway (its runner then leads)
WATCH = 0.2  # seconds between the projector's looks at whether the server is still there


def start(command: list[str]) -> subprocess.Popen | None:
    """Start `command` (`kaohe project --parent <this pid>`) and wait until it leads; None if it could not start."""
    try:
        child = subprocess.Popen([*command, "--parent", str(os.getpid())], stdout=subprocess.PIPE, text=True)
    except OSError as e:
        print(f"kaohe serve: the projector process did not start ({e}); this process projects", file=sys.stderr)
        return None
    deadline = time.monotonic() + START_TIMEOUT
    assert child.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([child.stdout], [], [], max(0.0, deadline - time.monotonic()))
        line = child.stdout.readline() if ready else ""
        if ready and not line:  # end of its output: it has ended
            child.wait(timeout=10)
            break
        if line.strip() == LEADING:
            child.stdout.close()  # nothing more is read from it: the projector writes no more to stdout
            return child
        if child.poll() is not None:
            break
    print("kaohe serve: the projector process did not take the lead; this process projects meanwhile",
          file=sys.stderr)
    child.stdout.close()
    return child if child.poll() is None else None


def stop(child: subprocess.Popen | None) -> None:
    if child is not None and child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


def run(app: Any, parent: int | None) -> int:
    """`kaohe project`: catch the views up as the store's leader until stopped or until `parent` is gone."""
    runner = app.runner
    announced = False
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped by the server: close the views cleanly
    try:
        while parent is None or os.getppid() == parent:
            if not announced and runner.leadership is not None and runner.leadership.leading:
                print(LEADING, flush=True)
                announced = True
            time.sleep(WATCH)
    except KeyboardInterrupt:
        pass
    finally:
        app.close()
    return 0
