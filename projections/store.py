"""The read side's tables, in the same database as the events (SQLite file or PostgreSQL).

One small adapter hides the two drivers' differences (placeholders, transactions, the
write lock); the SQL itself is the portable subset both understand.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

SCHEMA_VERSION = 3  # bump when a view table changes shape or meaning (views rebuild)
SCHEMA = [
    # How far each projection has read the store's notification log.
    "CREATE TABLE IF NOT EXISTS view_tracking (projection TEXT PRIMARY KEY, position BIGINT NOT NULL)",
    # Which aggregate is which: filled from each aggregate's first event.
    """CREATE TABLE IF NOT EXISTS view_aggregates (
        aggregate_id TEXT PRIMARY KEY, kind TEXT NOT NULL, year INTEGER, district TEXT)""",
    # The audit log: every event, flattened, in store order.
    """CREATE TABLE IF NOT EXISTS view_audit (
        position BIGINT PRIMARY KEY, year INTEGER, aggregate_id TEXT NOT NULL, kind TEXT NOT NULL,
        district TEXT, version INTEGER NOT NULL, recorded_at TEXT NOT NULL, actor TEXT NOT NULL,
        type TEXT NOT NULL, data TEXT NOT NULL, hash TEXT NOT NULL, prev_hash TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS view_audit_district ON view_audit (year, district, position)",
    "CREATE INDEX IF NOT EXISTS view_audit_kind ON view_audit (year, kind, position)",
    # The scoreboard: findings (the engine's input), sign-offs, and the scores computed from them.
    """CREATE TABLE IF NOT EXISTS view_findings (
        finding_id TEXT PRIMARY KEY, year INTEGER NOT NULL, district TEXT NOT NULL, clause TEXT NOT NULL,
        indicator TEXT NOT NULL, position BIGINT NOT NULL, recorded_at TEXT NOT NULL, data TEXT NOT NULL,
        status TEXT NOT NULL, status_reason TEXT, dispute TEXT)""",
    "CREATE INDEX IF NOT EXISTS view_findings_district ON view_findings (year, district, position)",
    """CREATE TABLE IF NOT EXISTS view_signoffs (
        year INTEGER NOT NULL, district TEXT NOT NULL, indicator TEXT NOT NULL, recorded_at TEXT NOT NULL,
        actor TEXT NOT NULL, PRIMARY KEY (year, district, indicator))""",
    """CREATE TABLE IF NOT EXISTS view_districts (
        year INTEGER NOT NULL, district TEXT NOT NULL, rubric TEXT NOT NULL, total TEXT,
        summary TEXT, dirty INTEGER NOT NULL, revision BIGINT NOT NULL, PRIMARY KEY (year, district))""",
    """CREATE TABLE IF NOT EXISTS view_years (
        year INTEGER PRIMARY KEY, rubric TEXT NOT NULL, rubric_hash TEXT NOT NULL, districts TEXT NOT NULL,
        opened_at TEXT NOT NULL, closed_at TEXT, close_data TEXT)""",
    # The dispute queue.
    """CREATE TABLE IF NOT EXISTS view_disputes (
        dispute_id TEXT PRIMARY KEY, year INTEGER NOT NULL, district TEXT NOT NULL, finding_id TEXT NOT NULL,
        indicator TEXT NOT NULL, clause TEXT NOT NULL, departments TEXT NOT NULL, status TEXT NOT NULL,
        statement TEXT NOT NULL, evidence TEXT NOT NULL, filed_at TEXT NOT NULL, filed_by TEXT NOT NULL,
        resolved_at TEXT, resolved_by TEXT, reason TEXT, position BIGINT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS view_disputes_queue ON view_disputes (year, status, position)",
]
VIEW_TABLES = (
    "view_tracking", "view_aggregates", "view_audit", "view_findings", "view_signoffs",
    "view_districts", "view_years", "view_disputes",
)


class ViewStore:
    """A connection to the read side. `transaction()` takes the database's write lock."""

    def __init__(self, env: dict[str, str]):
        self.is_postgres = env["PERSISTENCE_MODULE"].endswith("postgres")
        self._lock = threading.RLock()
        if self.is_postgres:
            import psycopg

            self._conn = psycopg.connect(
                dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
                user=env["POSTGRES_USER"], password=env.get("POSTGRES_PASSWORD") or None, autocommit=True,
            )
            schema = env.get("POSTGRES_SCHEMA")
            if schema:
                self._conn.execute(f"SET search_path TO {schema}")
        else:
            self._conn = sqlite3.connect(
                env["SQLITE_DBNAME"], isolation_level=None, check_same_thread=False, timeout=30
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        with self.transaction() as tx:
            tx.execute("CREATE TABLE IF NOT EXISTS view_schema (version INTEGER NOT NULL)")
            found = tx.query("SELECT version FROM view_schema")
            if found and found[0][0] != SCHEMA_VERSION:
                # Views are disposable: drop the old shape; catching up rebuilds them from the events.
                for table in VIEW_TABLES:
                    tx.execute(f"DROP TABLE IF EXISTS {table}")
            if not found or found[0][0] != SCHEMA_VERSION:
                tx.execute("DELETE FROM view_schema")
                tx.execute("INSERT INTO view_schema (version) VALUES (?)", (SCHEMA_VERSION,))
            for statement in SCHEMA:
                tx.execute(statement)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.is_postgres else sql

    @contextmanager
    def transaction(self) -> Iterator[ViewStore]:
        with self._lock:
            if self.is_postgres:
                with self._conn.transaction():
                    # One catch-up at a time across processes sharing the database.
                    self._conn.execute("SELECT pg_advisory_xact_lock(20180619)")
                    yield self
            else:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._lock:
            self._conn.execute(self._sql(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        with self._lock:
            if self.is_postgres:
                with self._conn.cursor() as cur:
                    cur.executemany(self._sql(sql), rows)
            else:
                self._conn.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._conn.execute(self._sql(sql), params).fetchall())

    def drop_all(self) -> None:
        """Empty every view (the events are untouched), for a rebuild from nothing."""
        with self.transaction() as tx:
            for table in VIEW_TABLES:
                tx.execute(f"DELETE FROM {table}")

    def close(self) -> None:
        self._conn.close()
