"""The projection runner: one thread per server process that keeps the views caught up.

Reads never catch up themselves (a read that wrote could fail when the disk is full, and
would queue on the write lock). The runner wakes when this process has written (`nudge`)
and polls the store for writes by other processes sharing it. A failing catch-up (the
database refusing writes) is remembered as `error`, so `/health` can say degraded, and
retried with a growing pause.
"""

from __future__ import annotations

import logging
import threading
import time

from projections.catchup import CatchUp

log = logging.getLogger("kaohe.runner")
POLL = 0.05  # seconds between looks at the store for other processes' writes
GAP = 0.01  # at least this long between two catch-ups: under a stream of writes, one batch serves many
MAX_PAUSE = 2.0


class ProjectionRunner:
    def __init__(self, catchup: CatchUp, poll: float = POLL, also: list[CatchUp] | None = None):
        self.catchup = catchup
        self.also = list(also or [])  # further catch-ups driven by the same thread (the Merkle log)
        self.poll = poll
        self.error: str | None = None  # the last catch-up failure, until one succeeds
        self.behind_since: float | None = None  # when the views last fell behind the store (monotonic)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="kaohe-projections", daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def nudge(self) -> None:
        """Something was written here: catch up now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _note_lag(self) -> None:
        head = self.catchup.app.recorder.max_notification_id() or 0
        if head <= (self.catchup.caught_up_to or 0):
            self.behind_since = None
        elif self.behind_since is None:
            self.behind_since = time.monotonic()

    def _loop(self) -> None:
        pause = self.poll
        last = 0.0
        while not self._stop.is_set():
            self._wake.wait(pause)
            self._wake.clear()
            if self._stop.is_set():
                return
            # A write right after a catch-up waits out the gap (writes keep the write lock and the
            # interpreter to themselves meanwhile); a write after a quiet spell is projected at once.
            wait = last + GAP - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            last = time.monotonic()
            try:
                self._note_lag()
                self.catchup.run()
                for catchup in self.also:  # after: a write here usually caught the log up already itself
                    catchup.run()
                self._note_lag()
            except Exception as e:  # noqa: BLE001 - kept for /health; the views keep their last good state
                if self.error is None:
                    log.warning("catching up the views failed: %s", e)
                self.error = f"{type(e).__name__}: {e}"
                pause = min(MAX_PAUSE, max(pause * 2, 0.1))
                continue
            self.error = None
            pause = self.poll
