"""The Merkle log integrated in the event store's own insert transaction.

A write's receipt carries a signed checkpoint and the inclusion proof of the write itself, so the log must
hold the write before the write answers. Catching the log up afterwards, in a transaction of its own on the
views, cost a second commit and a wait for the views' write lock per write (appends fell by half). Instead
the log's catch-up runs inside the transaction that inserts the events, under the lock that already orders
them (SQLite's single writer; on PostgreSQL the library's EXCLUSIVE lock on the events table): the leaves,
nodes, the log's tracking position and the checkpoint signed at the new size commit or roll back together
with the events, and leaf indices follow notification order by construction, across processes too.

The log stays a projection like the others (its own tracking position, rebuilt by `kaohe replay`). Events
that reached the store some other way (inserted into the database by hand) are integrated by the next
write, or by the runner (`run()`), which takes the same lock first, in the same order a write does.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, NamedTuple, Sequence

from eventsourcing.persistence import InterfaceError, Notification, OperationalError
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry

from api.service import log_tables
from domain.signed_note import checkpoint_body
from projections.merkle_log import LogCatchUp
from projections.store import Transaction


class Integrated(NamedTuple):
    """What one insert added to the log: where each leaf went, the checkpoints signed, the newest leaves' proofs."""

    leaves: dict[str, tuple[int, int]]  # chain hash → (year, leaf index)
    checkpoints: dict[int, dict[str, Any]]  # year → the checkpoint kept at the year's new size
    last_proofs: dict[int, tuple[int, list[bytes]]]  # year → (index, inclusion proof) of its newest leaf
    nodes: dict[int, dict[tuple[int, int], bytes]]  # year → the nodes that prove its new leaves (MerkleLog.known_nodes)


class LogIntegration:
    def __init__(self, catchup: LogCatchUp, signer: Any, origin: Callable[[int], str], *, events_table: str,
                 schema: str | None = None):
        self.catchup = catchup
        self.signer = signer
        self.origin = origin
        self.events_table = events_table
        self.schema = schema  # PostgreSQL: the views' schema, for statements on the library's connection
        self._local = threading.local()  # per thread: what its last insert added (read by the write path)

    # --- called by the recorders ---------------------------------------------------------

    def in_transaction(self, tx: Transaction, inserted: Sequence[Notification] = ()) -> None:
        """After the events are inserted (`inserted`, with their notification ids), before the commit: add
        them to the log, sign and keep a checkpoint of each year's new size."""
        self._local.pending = ()  # begun: from here on the log's memory may run ahead of the database
        if self.schema and tx.is_postgres:
            tx.execute(f"SET LOCAL search_path TO {self.schema}")
        reached = self.catchup.integrate(tx, inserted)
        log = self.catchup.log
        leaves = {digest: (year, index) for year, index, digest in log.integrated}
        checkpoints = {}
        for year in sorted({year for year, _ in leaves.values()}):
            size, root = log.head(year)
            note = self.signer.sign(checkpoint_body(self.origin(year), size, root))
            checkpoints[year] = log_tables.keep_checkpoint(tx, year, size, root.hex(), note)
        self._local.pending = (reached, Integrated(leaves, checkpoints, dict(log.last_proofs), log.known_nodes))

    def committed(self) -> None:
        pending, self._local.pending = getattr(self._local, "pending", None), None
        if pending:
            reached, self._local.result = pending
            self.catchup.committed(reached)

    def failed(self) -> None:
        """The insert rolled back: what the log holds in memory may be ahead of the database."""
        pending, self._local.pending = getattr(self._local, "pending", None), None
        if pending is not None:
            self.catchup.forget()

    # --- for the write path and the runner -----------------------------------------------

    def take(self) -> Integrated | None:
        """What this thread's last insert added to the log (once)."""
        result, self._local.result = getattr(self._local, "result", None), None
        return result

    @property
    def caught_up_to(self) -> int | None:
        return self.catchup.caught_up_to

    def run(self) -> int:
        """Integrate what the store holds beyond the log (at start; events inserted behind the service's
        back): under the store's insert lock, taken before anything else as a write takes it."""
        known = self.catchup.caught_up_to
        head = self.catchup.app.recorder.max_notification_id() or 0
        if known is not None and head <= known:
            return 0
        tracked = self.catchup.positions()[self.catchup.log.name]
        if tracked >= head:  # other processes' writes, each in the log since its commit: nothing to lock for
            self.catchup.committed(tracked)
            return 0
        views = self.catchup.views
        try:
            with views.transaction() as tx:  # SQLite: BEGIN IMMEDIATE, the one writer's lock on the file
                if tx.is_postgres:
                    tx.execute(f"LOCK TABLE {self.events_table} IN EXCLUSIVE MODE")
                self.in_transaction(tx)
        except BaseException:
            self.failed()
            raise
        self.committed()
        self.take()
        return head - (known or 0)

    def forget(self) -> None:
        self.catchup.forget()

    def wait_for(self, position: int, timeout: float) -> bool:
        return self.catchup.wait_for(position, timeout)

    def positions(self) -> dict[str, int]:
        return self.catchup.positions()


def notifications(ids: Sequence[int] | None, stored_events: Sequence[Any]) -> list[Notification]:
    """The events an insert has just stored, as the notifications the store will give for them."""
    if not ids or len(ids) != len(stored_events):
        return []
    return [Notification(id=int(i), originator_id=e.originator_id, originator_version=e.originator_version,
                         topic=e.topic, state=e.state) for i, e in zip(ids, stored_events)]


def _around(integration: LogIntegration | None, insert: Callable[[], Any]) -> Any:
    if integration is None:
        return insert()
    try:
        ids = insert()
    except BaseException:
        integration.failed()
        raise
    integration.committed()
    return ids


class LoggedSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, with the log integrated in each insert's transaction."""

    integration: LogIntegration | None = None

    def insert_events(self, stored_events: Sequence[Any], **kwargs: Any) -> Sequence[int] | None:
        return _around(self.integration, lambda: super(LoggedSQLiteRecorder, self).insert_events(
            stored_events, **kwargs))

    def _insert_events(self, c: Any, stored_events: Sequence[Any], **kwargs: Any) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if self.integration is not None:
            self.integration.in_transaction(Transaction.over(c.sqlite_cursor, is_postgres=False),
                                            notifications(ids, stored_events))
        return ids


class LoggedPostgresRecorder(PostgresApplicationRecorder):
    """The library's PostgreSQL recorder, with the log integrated in each insert's transaction, after the
    events table's lock is taken and the events are in.

    `insert_events` follows the library's own (9.5, without its database functions), because the library
    captures an error raised after the insert and commits before re-raising it: an error of the log's must
    roll the events back with it instead.
    """

    integration: LogIntegration | None = None

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[Any], **kwargs: Any) -> Sequence[int] | None:
        integration = self.integration
        if integration is None or self.datastore.enable_db_functions:
            return super().insert_events(stored_events, **kwargs)
        return _around(integration, lambda: self._insert_logged(integration, stored_events, **kwargs))

    def _insert_logged(self, integration: LogIntegration, stored_events: Sequence[Any], **kwargs: Any) -> Any:
        error: Exception | None = None
        ids = None
        with self.datastore.get_connection() as conn, conn.transaction():
            with conn.pipeline() as pipeline:  # as the library does: one round trip for lock, insert, notify
                with conn.cursor() as curs:
                    self._insert_events(curs, stored_events, **kwargs)
                if stored_events:
                    with conn.cursor() as curs:
                        try:
                            self._insert_stored_events(curs, stored_events, **kwargs)
                            pipeline.sync()  # a conflict raises here, before the log is touched
                            ids = self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
                            integration.in_transaction(Transaction.over(_Statements(conn), is_postgres=True),
                                                       notifications(ids, stored_events))
                        except Exception as e:  # raised once the pipeline is closed (psycopg warns otherwise)
                            error = e
            if error is not None:
                raise error  # inside the transaction: nothing of it is committed
        return ids


class _Statements:
    """A psycopg connection in pipeline mode as `Transaction.over` wants it: a fresh cursor (rows as tuples)
    for each statement. In pipeline mode a fetch syncs and reads the results in order; sharing one cursor
    between statements could hand a fetch the result of an earlier INSERT."""

    def __init__(self, conn: Any):
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        from psycopg.rows import tuple_row

        return self.conn.cursor(row_factory=tuple_row).execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(sql, rows)


RECORDERS = {"sqlite": f"{__name__}:LoggedSQLiteRecorder", "postgres": f"{__name__}:LoggedPostgresRecorder"}
