"""The projection runner: one thread per server process that keeps the views caught up.

Reads never catch up themselves (a read that wrote could fail when the disk is full, and
would queue on the write lock). The runner wakes when this process has written (`nudge`)
and polls the store for writes by other processes sharing it. A failing catch-up (the
database refusing writes) is remembered as `error`, so `/health` can say degraded, and
retried with a growing pause.

With `leadership` (PostgreSQL; SQLite in a file) only the store's leader process catches up, woken by
the store's notifications (PostgreSQL) or its looks at the store (SQLite); the others follow the position it
announces (projections.leader).
"""

from __future__ import annotations

import logging
import threading
import time

from projections import leader
from projections.catchup import CatchUp

log = logging.getLogger("kaohe.runner")
POLL = 0.05  # seconds between looks at the store for other processes' writes
GAP = 0.01  # at least this long between two catch-ups: under a stream of writes, one batch serves many
MAX_PAUSE = 2.0


class ProjectionRunner:
    def __init__(self, catchup: CatchUp, poll: float = POLL, also: list[CatchUp] | None = None,
                 leadership: leader.Leadership | None = None):
        self.catchup = catchup
        self.leadership = leadership
        self.also = list(also or [])  # further catch-ups driven by the same thread (the Merkle log)
        self.poll = poll
        self.error: str | None = None  # the last catch-up failure, until one succeeds
        self.behind_since: float | None = None  # when the views last fell behind the store (monotonic)
        self._wake = threading.Event()
        if hasattr(leadership, "wake"):  # SQLite's looks more often while this process writes or waits
            leadership.wake = self._wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def role(self) -> str:
        """`leader` (this process catches up), `follower` (it reads what the leader announces), or `alone`."""
        if self.leadership is None:
            return "alone"
        return "leader" if self.leadership.leading else "follower"

    def start(self) -> None:
        if self._thread is None:
            loop = self._loop if self.leadership is None else self._loop_shared
            self._thread = threading.Thread(target=loop, name="kaohe-projections", daemon=True)
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
        if self.leadership is not None:
            self.leadership.close()

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
            pause = self._catch_up(pause)

    def _catch_up(self, pause: float) -> float:
        """One catch-up of every projection; returns the pause before the next look (longer after a failure)."""
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
            return min(MAX_PAUSE, max(pause * 2, 0.1))
        self.error = None
        return self.poll

    def _loop_shared(self) -> None:
        """PostgreSQL: catch up when leading, else follow the leader's announced position."""
        assert self.leadership is not None
        pause = self.poll
        announced = 0
        last = 0.0

        def announce_in(tx, position: int) -> None:
            leader.announce_in(tx, self.catchup.views, position)

        while not self._stop.is_set():
            leading = self.leadership.lead()
            # The leader's catch-up says how far it got in its own last transaction (leader.announce_in).
            self.catchup.announce = announce_in if leading else None
            if not leading:
                self._follow(self.leadership.wait(self.poll)[1])
                continue
            if self._wake.is_set():  # a write here: its NOTIFY is on the way, but no need to wait for it
                self._wake.clear()
            else:
                self.leadership.wait(pause)
            if self._stop.is_set():
                return
            wait = last + GAP - time.monotonic()  # as in _loop: under a stream of writes, one batch serves many
            if wait > 0:
                time.sleep(wait)
            last = time.monotonic()
            pause = self._catch_up(pause)
            announced = max(announced, self.catchup.announced or 0)
            reached = self.catchup.caught_up_to
            # Again when the row no longer says it (a rebuild's swap empties view_tracking): looked at once a second.
            if self.error is None and reached is not None and (
                    reached != announced or (self.leadership.due() and leader.settled_position(self.catchup.views)
                                             != reached)):
                try:
                    leader.announce(self.catchup.views, reached)
                    announced = reached
                except Exception as e:  # noqa: BLE001 - the followers see it at the next announcement or look
                    log.warning("announcing the views' position failed: %s", e)

    def _follow(self, announced: int | None) -> None:
        if announced is None and (self.catchup.caught_up_to is None or self.leadership.due()):
            try:
                announced = leader.settled_position(self.catchup.views)
            except Exception as e:  # noqa: BLE001 - the views cannot be read now: try again next round
                self.error = f"{type(e).__name__}: {e}"
                return
        self.error = None
        if announced is not None and announced != self.catchup.caught_up_to:
            self.catchup.followed(announced)
            self._note_lag()
        for catchup in self.also:  # the Merkle log: in step with every insert, so this is a look at its position
            try:
                catchup.run()
            except Exception as e:  # noqa: BLE001 - as in _catch_up: kept for /health, tried again next round
                self.error = f"{type(e).__name__}: {e}"
