"""Serialising writes to the same aggregates across processes sharing PostgreSQL (advisory locks).

Optimistic concurrency alone lets two servers keep colliding on one busy district ledger (a
few of 200 concurrent writes ran out of retries). On PostgreSQL every save therefore holds a
session advisory lock per aggregate it saves, and a retry takes the locks of what it tried to save
*before* it reads again: under the lock nobody else can save those aggregates, so the retry's
fresh read cannot be stale and its save cannot conflict. A first attempt takes the locks of
what the same command on the same district (finding, report …) saved last time, so on a busy
ledger even first attempts rarely conflict. SQLite (one writing process) needs none.
"""

from __future__ import annotations

import threading
import uuid
import zlib
from typing import Any, Iterable

from projections.store import postgres_settings

LOCK_SPACE = 1801  # the first key of pg_advisory_lock(int, int): kaohe's aggregate locks
HINTS = 10_000  # commands whose touched aggregates are remembered
TARGETS = ("year", "district", "finding", "dispute", "report", "task")


def _key(aggregate_id: Any) -> int:
    # A signed 32-bit key from the id (collisions only make two aggregates share a lock).
    return zlib.crc32(uuid.UUID(str(aggregate_id)).bytes) - (1 << 31)


class AggregateLocks:
    """One connection of its own per application, used under the application's write lock."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.enabled = env.get("PERSISTENCE_MODULE", "").endswith("postgres")
        self._conn: Any = None
        self._held = False
        self._lock = threading.Lock()
        self._hints: dict[tuple, tuple[Any, ...]] = {}

    def hint_key(self, command: str, args: dict[str, Any]) -> tuple | None:
        if not self.enabled:
            return None
        return (command, *(str(args[k]) for k in TARGETS if k in args))

    def expected(self, hint: tuple | None) -> list[Any]:
        return list(self._hints.get(hint, ())) if hint is not None else []

    @staticmethod
    def saved_ids(aggregates: list[Any]) -> list[Any]:
        """The aggregates a save changed that others may change too (not a new idempotency record)."""
        from domain.idempotency import IdempotencyRecord

        return [a.id for a in aggregates if not isinstance(a, IdempotencyRecord)]

    def remember(self, hint: tuple | None, aggregates: list[Any]) -> None:
        ids = self.saved_ids(aggregates) if hint is not None else []
        if not ids:
            return
        if len(self._hints) >= HINTS:
            self._hints.pop(next(iter(self._hints)))
        self._hints[hint] = tuple(ids)

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg

            self._conn = psycopg.connect(**postgres_settings(self.env))
        return self._conn

    def take(self, aggregate_ids: Iterable[Any]) -> None:
        """Wait for the locks of these aggregates (in one order, so two takers cannot deadlock)."""
        if not self.enabled:
            return
        keys = sorted({_key(a) for a in aggregate_ids})
        if not keys:
            return
        import psycopg
        from eventsourcing.persistence import IntegrityError

        with self._lock:
            conn = self._connection()
            self._held = True
            try:
                # One round trip for a whole batch: unnest yields the keys in the array's (sorted) order.
                conn.execute("SELECT pg_advisory_lock(%s, k) FROM unnest(%s::int[]) AS k", (LOCK_SPACE, keys))
            except psycopg.errors.DeadlockDetected as e:
                # Two retries each held what the other wanted: PostgreSQL broke the tie. A conflict, retried.
                conn.execute("SELECT pg_advisory_unlock_all()")
                self._held = False
                raise IntegrityError(e) from e

    def release(self) -> None:
        if not self.enabled or not self._held:
            return
        with self._lock:
            if self._conn is None:
                self._held = False
                return
            try:
                self._conn.execute("SELECT pg_advisory_unlock_all()")
            except Exception:  # noqa: BLE001 - a broken connection has released its locks already
                self.close()
            self._held = False

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
