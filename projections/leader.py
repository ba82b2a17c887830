"""One server process per store catches the views up; the others only read them (PostgreSQL: `Leadership`;
SQLite, for the processes sharing a database file: `FileLeadership`, further down).

Several servers share one PostgreSQL store and one set of views. If every process caught up
on its own, each would queue on the views' write lock after every write anywhere (measured:
90% of sampled waits with 4 workers), and do the same projection work again. Instead the
process holding a session advisory lock (`LEADER_LOCK`, one per store) is the store's leader: it LISTENs to
the library's own notification channel (the event recorder NOTIFYs it on every insert), so it
catches up as soon as any process has written, then tells the others how far the views are
settled, on a channel of kaohe's own (NOTIFY `channel(env)`, payload the position) and in a row of
view_tracking (`SETTLED`, for a process that starts, or missed a notification). The others
take that position as theirs: a read waiting for a write (its process's own, or Kaohe-Read-After)
waits for the leader's message, not for a lock.

Correctness does not rest on there being one leader: catch-ups still run under the views'
transaction lock and re-read their positions under it, so two leaders for a moment (a broken
connection, a `kaohe replay` from the command line) cost only repeated work. When the leader
stops or its connection breaks, PostgreSQL releases its lock and the next process to ask takes over.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from typing import Any, Callable

from projections.store import postgres_settings, store_key

log = logging.getLogger("kaohe.leader")
LEADER_LOCK = 20180620  # pg_try_advisory_lock(LEADER_LOCK, store_key): the store's leader (store.VIEWS_LOCK + 1)
CHANNEL = "kaohe_views"  # + the store's schema: channels are shared by every schema of a database
SETTLED = "settled"  # the view_tracking row the leader writes: every projection read and scored this far
RECHECK = 1.0  # seconds between looks at the SETTLED row (a missed notification is seen within this)
TAKEOVER = 0.5  # seconds between a follower's asks for the leader's lock (a stopped leader is replaced within)
FAST_POLL = 0.002  # SQLite (FileLeadership): seconds between looks while busy …
IDLE_POLL = 0.02  # … and after a quiet second
BUSY = 1.0


class _Rechecks:
    """What both leaderships share: a clock for the follower's safety-net look at the SETTLED row (and the
    leader's look that the row still says what it announced)."""

    _checked = 0.0

    def due(self) -> bool:
        """Time to look at the SETTLED row again."""
        now = time.monotonic()
        if now - self._checked < RECHECK:
            return False
        self._checked = now
        return True


class Leadership(_Rechecks):
    """One connection of its own (per process): it holds the leader's lock and LISTENs.

    Used by one thread, the projection runner's.
    """

    def __init__(self, env: dict[str, str], events_channel: str):
        self.env = env
        self.events_channel = events_channel
        self.channel = channel(env)
        self.leading = False
        self._conn: Any = None
        self._asked = -TAKEOVER

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg
            from psycopg import sql

            self.leading = False  # a new session holds no lock
            self._conn = psycopg.connect(**postgres_settings(self.env))
            self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        return self._conn

    def _listen_as_leader(self, conn: Any) -> None:
        """The leader hears every write (the library's channel), not its own announcements."""
        from psycopg import sql

        conn.execute(sql.SQL("UNLISTEN {}").format(sql.Identifier(self.channel)))
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.events_channel)))

    def lead(self) -> bool:
        """Whether this process leads now (asking for the lock if it does not yet)."""
        try:
            conn = self._connection()
            if not self.leading:
                now = time.monotonic()
                if now - self._asked < TAKEOVER:
                    return False
                self._asked = now
                self.leading = bool(conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                                 (LEADER_LOCK, store_key(self.env))).fetchone()[0])
                if self.leading:
                    self._listen_as_leader(conn)
                    log.info("this process now catches the views up for the store")
        except Exception as e:  # noqa: BLE001 - no connection: not leading; the next round asks again
            log.warning("the views' leader lock could not be asked for: %s", e)
            self.close()
        return self.leading

    def wait(self, timeout: float) -> tuple[bool, int | None]:
        """Wait (at most `timeout`) for a notification; return (whether any came, the newest settled position
        a leader announced, if any)."""
        settled: int | None = None
        came = False
        try:
            conn = self._connection()
            for notify in conn.notifies(timeout=timeout, stop_after=1):
                came = True
                if notify.channel == self.channel and notify.payload.isdigit():
                    settled = max(settled or 0, int(notify.payload))
            for notify in conn.notifies(timeout=0):  # whatever else is already here
                if notify.channel == self.channel and notify.payload.isdigit():
                    settled = max(settled or 0, int(notify.payload))
        except Exception as e:  # noqa: BLE001 - reconnect on the next round; meanwhile behave as after a timeout
            log.warning("listening for the store's notifications failed: %s", e)
            self.close()
            time.sleep(min(timeout, 0.5))
        return came, settled

    def close(self) -> None:
        conn, self._conn = self._conn, None
        self.leading = False
        if conn is not None:
            try:
                conn.close()  # ends the session: the lock is released
            except Exception as e:  # noqa: BLE001 - a broken connection is closed already
                log.debug("closing the leader's connection: %s", e)


class FileLeadership(_Rechecks):
    """SQLite: the same part as `Leadership`, for the processes sharing one database file.

    The lock is an exclusive `flock` on a file beside the database (`<database>.leader`): the kernel releases it
    when the process holding it ends, however it ends, so the next process to ask takes over, as PostgreSQL
    frees a session's advisory lock. SQLite has no LISTEN/NOTIFY, so `wait` looks instead: the leader at the
    store's head, a follower at the SETTLED row, every FAST_POLL while anything happened in the last second
    (or, for a follower, this process has just written or is waiting to read, `wake`), else every IDLE_POLL.
    The leader's own writes wake it (`wake`), so a head its own writes explain (`own`: the newest position this
    process wrote) is no reason to look more often: one server alone under a stream of writes would otherwise
    look 500 times a second for writes of other processes that do not exist.
    """

    def __init__(self, path: str, head: Callable[[], int], settled: Callable[[], int | None],
                 own: Callable[[], int] | None = None):
        self.path = path
        self.head, self.settled, self.own = head, settled, own
        self.leading = False
        self.wake: threading.Event | None = None  # the runner's: set when this process wrote or a read waits
        self._fd: int | None = None
        self._asked = -TAKEOVER
        self._seen: int | None = None  # the head (leading) or the settled position (following) last seen
        self._busy_until = 0.0

    def lead(self) -> bool:
        if self.leading:
            return True
        now = time.monotonic()
        if now - self._asked < TAKEOVER:
            return False
        self._asked = now
        try:
            if self._fd is None:  # read-only is enough for flock (a file another user made, 0644, still locks)
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # another process leads
        except OSError as e:
            # No lock to be had (a read-only folder …): lead without it, as every process did before the lock
            # existed. Two leaders cost only repeated work (see the module's docstring); none would stall reads.
            log.warning("the views' leader lock %s cannot be used (%s): this process catches up regardless",
                        self.path, e)
        self.leading, self._seen = True, None
        log.info("this process now catches the views up for the store")
        return True

    def wait(self, timeout: float) -> tuple[bool, int | None]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                seen = self.head() if self.leading else self.settled()
            except Exception as e:  # noqa: BLE001 - the store cannot be read now: as after a timeout
                log.warning("looking at the store failed: %s", e)
                time.sleep(min(timeout, 0.5))
                return False, None
            now = time.monotonic()
            if seen != self._seen:
                self._seen = seen
                if not self.leading or self.own is None or seen > self.own():  # another process's doing
                    self._busy_until = now + BUSY
                return True, (None if self.leading else seen)
            if self.wake is not None and self.wake.is_set():
                self.wake.clear()
                if self.leading:
                    return True, None  # this process wrote: catch up now
                self._busy_until = now + BUSY  # the leader settles this process's write in a moment
            if now >= deadline:
                return False, None
            delay = min(FAST_POLL if now < self._busy_until else IDLE_POLL, deadline - now)
            if self.wake is not None:
                self.wake.wait(delay)  # a write here or a waiting read ends the pause at once
            else:
                time.sleep(delay)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        self.leading = False
        if fd is not None:
            os.close(fd)  # releases the lock


def file_leadership(views: Any, recorder: Any, own: Callable[[], int] | None = None) -> FileLeadership | None:
    """The leadership of a SQLite store in a file (none for one in memory: one process only); `own`: the newest
    store position this process wrote."""
    name = views.env.get("SQLITE_DBNAME") or ""
    if not name or name == ":memory:" or name.startswith("file:"):  # (URIs: read-only copies, no runner)
        return None
    return FileLeadership(f"{name}.leader", lambda: recorder.max_notification_id() or 0,
                          lambda: settled_position(views), own)


def announce(views: Any, position: int) -> None:
    """The leader's word after a catch-up, in a transaction of its own (see `announce_in`)."""
    with views.transaction() as tx:
        announce_in(tx, views, position)


def announce_in(tx: Any, views: Any, position: int) -> None:
    """The leader's word: the SETTLED row and (PostgreSQL) a NOTIFY, sent when `tx` commits. The runner has the
    catch-up say it in its own last transaction (one commit a catch-up, not two: on SQLite the store's writers
    wait for each)."""
    tx.execute("INSERT INTO view_tracking (projection, position) VALUES (?, ?) "
               "ON CONFLICT (projection) DO UPDATE SET position = excluded.position", (SETTLED, position))
    if views.is_postgres:
        tx.execute("SELECT pg_notify(?, ?)", (channel(views.env), str(position)))


def channel(env: dict[str, str]) -> str:
    return f"{CHANNEL}_{env.get('POSTGRES_SCHEMA') or 'public'}"[:63]


def settled_position(views: Any) -> int | None:
    rows = views.query("SELECT position FROM view_tracking WHERE projection = ?", (SETTLED,))
    return int(rows[0][0]) if rows else None

