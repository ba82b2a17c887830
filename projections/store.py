"""The read side's tables, in the same database as the events (SQLite file or PostgreSQL).

One small adapter hides the two drivers' differences (placeholders, transactions, the
write lock); the SQL itself is the portable subset both understand.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence
from urllib.parse import quote

SCHEMA_VERSION = 7  # bump when a view table changes shape or meaning (views rebuild)
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
    # Per district: the ledger version the views reflect, and the scores computed at `scored`: its ranking
    # row (`summary`) and its breakdown, clause by clause with the findings behind each deduction (a size
    # set by the rubric, not the history). `touched_at`: the position of the district's newest event;
    # `scored_at`: the same when its scores were computed, so a reader keeping the ranking in memory reads
    # only the rows rescored since it last looked.
    """CREATE TABLE IF NOT EXISTS view_districts (
        year INTEGER NOT NULL, district TEXT NOT NULL, rubric TEXT NOT NULL, aggregate_id TEXT NOT NULL,
        version BIGINT NOT NULL, scored BIGINT NOT NULL, total TEXT, summary TEXT, breakdown TEXT,
        touched_at BIGINT NOT NULL, scored_at BIGINT, PRIMARY KEY (year, district))""",
    "CREATE INDEX IF NOT EXISTS view_districts_rescored ON view_districts (year, scored_at)",
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
    # The assessment cycle (projections.cycle): uploaded files, 申报 and their review, 公示, added rubrics.
    """CREATE TABLE IF NOT EXISTS view_evidence (
        year INTEGER NOT NULL, district TEXT NOT NULL, sha256 TEXT NOT NULL, size BIGINT NOT NULL,
        media_type TEXT NOT NULL, filename TEXT NOT NULL, uploaded_at TEXT NOT NULL, actor TEXT NOT NULL,
        position BIGINT NOT NULL, PRIMARY KEY (year, district, sha256))""",
    """CREATE TABLE IF NOT EXISTS view_submissions (
        submission_id TEXT PRIMARY KEY, year INTEGER NOT NULL, district TEXT NOT NULL, indicator TEXT NOT NULL,
        departments TEXT NOT NULL, statement TEXT NOT NULL, evidence TEXT NOT NULL, submitted_at TEXT NOT NULL,
        submitted_by TEXT NOT NULL, status TEXT NOT NULL, superseded INTEGER NOT NULL, returned_reason TEXT,
        returned_at TEXT, returned_by TEXT, reviewed_at TEXT, position BIGINT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS view_submissions_queue ON view_submissions (year, indicator, position)",
    """CREATE TABLE IF NOT EXISTS view_publications (
        position BIGINT PRIMARY KEY, year INTEGER NOT NULL, days INTEGER NOT NULL, starts_on TEXT NOT NULL,
        ends_on TEXT NOT NULL, published_at TEXT NOT NULL, actor TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS view_rubrics (
        rubric_id TEXT PRIMARY KEY, title TEXT NOT NULL, content_hash TEXT NOT NULL, added_at TEXT NOT NULL,
        actor TEXT NOT NULL)""",
    # The verifiable log (projections.merkle_log): leaves in order, and every complete perfect subtree.
    """CREATE TABLE IF NOT EXISTS view_log_leaves (
        year INTEGER NOT NULL, idx BIGINT NOT NULL, hash TEXT NOT NULL, position BIGINT NOT NULL,
        aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (year, idx))""",
    "CREATE INDEX IF NOT EXISTS view_log_leaves_hash ON view_log_leaves (hash)",
    """CREATE TABLE IF NOT EXISTS view_log_nodes (
        year INTEGER NOT NULL, level INTEGER NOT NULL, idx BIGINT NOT NULL, hash TEXT NOT NULL,
        PRIMARY KEY (year, level, idx))""",
]
# Every view table and index is named view_*: that is how a rebuild builds a fresh set beside the live one.
VIEW_NAME = re.compile(r"\b(view_[a-z0-9_]+)\b")
VIEW_TABLES = tuple(re.findall(r"CREATE TABLE IF NOT EXISTS (view_\w+)", "\n".join(SCHEMA)))
VIEW_INDEXES = {name: sql for sql in SCHEMA for name in re.findall(r"CREATE INDEX IF NOT EXISTS (view_\w+)", sql)}
SHADOW = "__next"
REBUILD_CACHE_KIB = 65536  # SQLite's page cache for the views' writer while a rebuild fills the fresh tables
READ_POOL = int(os.environ.get("KAOHE_VIEW_READ_CONNECTIONS", "8"))  # PostgreSQL connections for reads, per process


VIEWS_LOCK = 20180619  # pg_advisory_xact_lock(VIEWS_LOCK, store_key): one view writer at a time per store


def postgres_settings(env: dict[str, str]) -> dict[str, Any]:
    """psycopg.connect's arguments for the store's database (library settings): every connection kaohe opens
    itself (views, read pool, leader, write locks, table set-up) is made from these."""
    return {"dbname": env["POSTGRES_DBNAME"], "host": env["POSTGRES_HOST"], "port": env["POSTGRES_PORT"],
            "user": env["POSTGRES_USER"], "password": env.get("POSTGRES_PASSWORD") or None, "autocommit": True}


def store_key(env: dict[str, str]) -> int:
    """A signed 32-bit key naming one store in its PostgreSQL database (stores differ by schema), so two
    stores sharing a database never wait for each other's advisory locks."""
    schema = env.get("POSTGRES_SCHEMA") or "public"
    return zlib.crc32(schema.encode()) - (1 << 31)


def dialect(statement: str, is_postgres: bool) -> str:
    """A schema statement as this database makes it best: on SQLite a position key is the table's own rowid
    (`INTEGER PRIMARY KEY`), so rows inserted in store order append to one B-tree instead of two."""
    return statement if is_postgres else statement.replace("position BIGINT PRIMARY KEY", "position INTEGER PRIMARY KEY")


def shadowed(sql: str) -> str:
    """The same statement over the fresh tables a rebuild fills (view_audit → view_audit__next)."""
    return VIEW_NAME.sub(lambda m: m.group(1) + SHADOW, sql)


def sqlite_read_only_uri(path: str) -> str:
    """A URI that opens an SQLite file without ever writing (no WAL or shared-memory file made either).

    Where no -wal file exists and none could be made (a read-only copy in a read-only folder), no
    writer can be active, so the file is opened `immutable`: SQLite then needs no lock files at all.
    """
    file = Path(path).resolve()
    wal = file.with_name(file.name + "-wal")
    immutable = not wal.exists() and not os.access(file.parent, os.W_OK)
    return f"file:{quote(str(file))}?mode=ro" + ("&immutable=1" if immutable else "")


class ViewStore:
    """The read side's database. `transaction()` takes the write lock (the projection runner);
    `query()` reads on a connection of the calling thread's own, so reads never wait for a
    catch-up in progress and never write (they answer even when the database refuses writes).
    """

    def __init__(self, env: dict[str, str], *, read_only: bool = False):
        self.env = env
        self.is_postgres = env["PERSISTENCE_MODULE"].endswith("postgres")
        self.read_only = read_only
        self._lock = threading.RLock()  # the write connection is used by one thread at a time
        self._local = threading.local()
        self._readers: list[Any] = []
        self._readers_lock = threading.Lock()
        self._ensured: set[str] = set()  # see ensure_tables
        self.events_table: str | None = None  # PostgreSQL: the event store's table, whose lock orders inserts
        self._conn = None if read_only else self._connect()
        if not read_only:
            self._create_schema()

    def _connect(self, *, reading: bool = False) -> Any:
        env = self.env
        if self.is_postgres:
            import psycopg

            conn = psycopg.connect(**postgres_settings(env))
            schema = env.get("POSTGRES_SCHEMA")
            if schema:
                conn.execute(f"SET search_path TO {schema}")
            return conn
        path = env["SQLITE_DBNAME"]
        if reading and self.read_only:
            # `kaohe verify` on a read-only copy: open it read-only, never create or change a file.
            conn = sqlite3.connect(sqlite_read_only_uri(path), uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=30)
        else:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            if not reading:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _create_schema(self) -> None:
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
                tx.execute(dialect(statement, self.is_postgres))

    def ensure_tables(self, name: str, statements: Sequence[str]) -> None:
        """Create the tables a part of the service keeps beside the views (tokens, sessions, files: not
        disposable, never rebuilt), once per store object; on a read-only store, nothing."""
        if name in self._ensured or self.read_only:
            return
        with self._readers_lock:
            if name in self._ensured:
                return
            with self.transaction() as tx:
                for statement in statements:
                    tx.execute(statement)
            self._ensured.add(name)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.is_postgres else sql

    def _reader(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect(reading=True)
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @contextmanager
    def transaction(self, rewrite: Callable[[str], str] | None = None) -> Iterator[Transaction]:
        if self._conn is None:
            raise RuntimeError("the views were opened read-only")
        with self._lock:
            if self.is_postgres:
                with self._conn.transaction():
                    # One catch-up at a time across processes sharing the store.
                    self._conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (VIEWS_LOCK, store_key(self.env)))
                    yield Transaction(self, rewrite)
            else:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield Transaction(self, rewrite)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")

    def shadow(self) -> ShadowViews:
        """A fresh, empty set of view tables beside the live ones, for a rebuild that `swap()`s them in."""
        return ShadowViews(self)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """One statement in a transaction of its own."""
        with self.transaction() as tx:
            tx.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read of what is committed: on PostgreSQL from a small pool (a connection per request thread
        would soon exhaust the server's connections), on SQLite on this thread's own connection."""
        if self.is_postgres:
            with self._pool().connection() as conn:
                return list(conn.execute(self._sql(sql), params).fetchall())
        return self._reader().execute(sql, params).fetchall()

    def _pool(self) -> Any:
        pool = getattr(self, "_read_pool", None)
        if pool is None:
            with self._readers_lock:
                pool = getattr(self, "_read_pool", None)
                if pool is None:
                    from psycopg_pool import ConnectionPool

                    env = self.env
                    schema = env.get("POSTGRES_SCHEMA")
                    pool = self._read_pool = ConnectionPool(
                        kwargs=postgres_settings(env),
                        configure=(lambda conn: conn.execute(f"SET search_path TO {schema}")) if schema else None,
                        min_size=1, max_size=READ_POOL, open=True)
        return pool

    def drop_all(self) -> None:
        """Empty every view (the events are untouched), for a rebuild from nothing."""
        with self.transaction() as tx:
            for table in VIEW_TABLES:
                tx.execute(f"DELETE FROM {table}")

    def close(self) -> None:
        pool = getattr(self, "_read_pool", None)
        if pool is not None:
            pool.close()
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()
        if self._conn is not None:
            self._conn.close()


class Transaction:
    """The write connection inside `ViewStore.transaction()`: what a projection writes with."""

    def __init__(self, store: ViewStore, rewrite: Callable[[str], str] | None = None):
        self.is_postgres = store.is_postgres
        self._conn = store._conn
        self._rewrite = rewrite or (lambda sql: sql)

    @classmethod
    def over(cls, connection: Any, *, is_postgres: bool) -> Transaction:
        """The same adapter over a connection already inside a transaction of someone else's: the event
        store's own (a psycopg connection, or an sqlite3 cursor), so views are written in its commit."""
        tx = cls.__new__(cls)
        tx.is_postgres, tx._conn, tx._rewrite = is_postgres, connection, (lambda sql: sql)
        return tx

    def _sql(self, sql: str) -> str:
        sql = self._rewrite(sql)
        return sql.replace("?", "%s") if self.is_postgres else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._conn.execute(self._sql(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if hasattr(self._conn, "executemany"):  # sqlite3 connections and cursors, psycopg cursors
            self._conn.executemany(self._sql(sql), rows)
        else:  # a psycopg connection: executemany lives on its cursors
            with self._conn.cursor() as cur:
                cur.executemany(self._sql(sql), rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read inside the transaction (sees what it has written so far)."""
        return [tuple(row) for row in self._conn.execute(self._sql(sql), params).fetchall()]

    def columns(self, table: str) -> set[str]:
        """The column names a table has now (to add a later column to a table made without it)."""
        cursor = self._conn.execute(f"SELECT * FROM {table} WHERE 1 = 0")
        return {d[0] for d in cursor.description}


class ShadowViews:
    """The views a rebuild fills while the live ones keep answering; `swap()` makes them the live ones.

    It speaks the same SQL as the live views (every view_* name is redirected to view_*__next), so
    the projections need not know they are filling a fresh set.
    """

    def __init__(self, live: ViewStore):
        self.live = live
        self.is_postgres = live.is_postgres
        if not self.is_postgres:
            # Finding ids are random: their key's B-tree takes inserts all over; with SQLite's default 2 MB
            # page cache each one reads and spills pages once the table outgrows it (then time per row grows).
            live._conn.execute(f"PRAGMA cache_size = -{REBUILD_CACHE_KIB}")
        with live.transaction() as tx:
            for table in VIEW_TABLES:  # whatever a rebuild that died left behind
                tx.execute(f"DROP TABLE IF EXISTS {table}{SHADOW}")
            for statement in SCHEMA:
                if not statement.startswith("CREATE INDEX"):  # indexes come at the swap: inserts stay cheap
                    tx.execute(shadowed(dialect(statement, self.is_postgres)))

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self.live.transaction(shadowed) as tx:
            yield tx

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.live.query(shadowed(sql), params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self.transaction() as tx:
            tx.execute(sql, params)

    def swap(self, last_steps: Callable[[Transaction], None] = lambda tx: None) -> None:
        """In one transaction: `last_steps` (catch the fresh views up the rest of the way), then the fresh
        tables replace the live ones. Readers see the old views until the commit, the new ones after."""
        with self.live.transaction() as tx:
            if self.is_postgres and self.live.events_table:
                # Writes add to the log's views inside their own insert transaction, under this lock: no
                # write may be halfway through the tables being swapped (SQLite's one writer is held already).
                tx.execute(f"LOCK TABLE {self.live.events_table} IN EXCLUSIVE MODE")
            last_steps(Transaction(self.live, shadowed))
            for table in VIEW_TABLES:
                tx.execute(f"DROP TABLE IF EXISTS {table}")
                tx.execute(f"ALTER TABLE {table}{SHADOW} RENAME TO {table}")
            if self.is_postgres:  # constraint indexes keep their names through a rename: give them the live ones
                for (name,) in tx.query("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                                        "AND indexname LIKE ?", (f"view%{SHADOW}%",)):
                    tx.execute(f"ALTER INDEX {name} RENAME TO {name.replace(SHADOW, '')}")
            for statement in VIEW_INDEXES.values():
                tx.execute(statement)
        if not self.is_postgres:
            self.live._conn.execute("PRAGMA cache_size = -2000")  # SQLite's default again
