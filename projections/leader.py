"""On PostgreSQL one server process catches the views up; the others only read them.

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

import logging
import time
from typing import Any

from projections.store import store_key

log = logging.getLogger("kaohe.leader")
LEADER_LOCK = 20180620  # pg_try_advisory_lock(LEADER_LOCK, store_key): the store's leader (store.VIEWS_LOCK + 1)
CHANNEL = "kaohe_views"  # + the store's schema: channels are shared by every schema of a database
SETTLED = "settled"  # the view_tracking row the leader writes: every projection read and scored this far
RECHECK = 1.0  # seconds between looks at the SETTLED row (a missed notification is seen within this)
TAKEOVER = 0.5  # seconds between a follower's asks for the leader's lock (a stopped leader is replaced within)


class Leadership:
    """One connection of its own (per process): it holds the leader's lock and LISTENs.

    Used by one thread, the projection runner's.
    """

    def __init__(self, env: dict[str, str], events_channel: str):
        self.env = env
        self.events_channel = events_channel
        self.channel = channel(env)
        self.leading = False
        self._conn: Any = None
        self._checked = 0.0
        self._asked = -TAKEOVER

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg
            from psycopg import sql

            env = self.env
            self.leading = False  # a new session holds no lock
            self._conn = psycopg.connect(
                dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
                user=env["POSTGRES_USER"], password=env.get("POSTGRES_PASSWORD") or None, autocommit=True)
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

    def due(self) -> bool:
        """Time to look at the SETTLED row again (a follower's safety net)."""
        now = time.monotonic()
        if now - self._checked < RECHECK:
            return False
        self._checked = now
        return True

    def close(self) -> None:
        conn, self._conn = self._conn, None
        self.leading = False
        if conn is not None:
            try:
                conn.close()  # ends the session: the lock is released
            except Exception as e:  # noqa: BLE001 - a broken connection is closed already
                log.debug("closing the leader's connection: %s", e)


def announce(views: Any, position: int) -> None:
    """The leader's word after a catch-up: the SETTLED row and a NOTIFY, in one transaction (sent on commit)."""
    with views.transaction() as tx:
        tx.execute("INSERT INTO view_tracking (projection, position) VALUES (?, ?) "
                   "ON CONFLICT (projection) DO UPDATE SET position = excluded.position", (SETTLED, position))
        tx.execute("SELECT pg_notify(?, ?)", (channel(views.env), str(position)))


def channel(env: dict[str, str]) -> str:
    return f"{CHANNEL}_{env.get('POSTGRES_SCHEMA') or 'public'}"[:63]


def settled_position(views: Any) -> int | None:
    rows = views.query("SELECT position FROM view_tracking WHERE projection = ?", (SETTLED,))
    return int(rows[0][0]) if rows else None

