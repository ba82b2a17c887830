"""Snapshots of long district ledgers (the library's snapshotting): a cold load reads the newest snapshot and the
few events after it instead of the whole history.

- Where: the library's own snapshot table (`stored_snapshots` on SQLite, `kaohe_snapshots` on PostgreSQL), never
  the events table. A snapshot has no notification, so no projection, catch-up, Merkle log, audit export, `verify`
  walk or fast replay ever reads one, and none enters a hash chain. Only each ledger's newest is kept.
- When: a save that takes a ledger past a multiple of `SNAPSHOT_INTERVAL` events, or a cold load that had to fold
  that many events, asks the `Snapshotter` (one background thread per process). It rebuilds the ledger at that
  version from the store (the newest earlier snapshot and the events after it), so no write waits for it and no
  aggregate a command is changing is read. Every process snapshots what it wrote (PostgreSQL: several servers).
- Trust: snapshots are not history. Each is sealed: the service's log key signs (ledger, version, sha256 of the
  stored bytes). `SnapshotRepository` uses one only if its seal verifies and its head is the hash of the stored
  event at its version; otherwise it logs why, ignores it and folds the events. `verify` checks the chains from
  the events alone, then each stored snapshot against the ledger folded from its events (`problems`).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from itertools import chain
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository, project_aggregate
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import IntegrityError, Mapper, MapperDeserialisationError, StoredEvent

from domain.ledger import DistrictLedger
from domain.log_check import seal_snapshot, snapshot_seal_ok

SNAPSHOT_INTERVAL = 100  # events; KAOHE_SNAPSHOT_INTERVAL overrides. A cold load folds at most this many events
BATCH = 50  # snapshots stored in one transaction
SEAL_END = b"\n"  # a stored snapshot is its seal, this byte, then the library's encoding of the snapshot
log = logging.getLogger("kaohe.snapshots")


class SnapshotRejected(Exception):
    """A stored snapshot the service will not use (its seal, its head): the events are folded instead."""


class SnapshotMapper(Mapper):
    """The library's mapper, with each snapshot sealed on the way in and its seal checked on the way out."""

    def __init__(self, transcoder: Any, keys: Any):
        super().__init__(transcoder)
        self.keys = keys  # the app: its `log_signer` (set after construction) and `log_verifier()`

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        stored = super().to_stored_event(domain_event)
        signer = self.keys.log_signer
        if signer is None:
            raise SnapshotRejected("no log key to seal a snapshot with")
        seal = seal_snapshot(signer, str(stored.originator_id), stored.originator_version, _digest(stored.state))
        return replace(stored, state=seal.encode("ascii") + SEAL_END + stored.state)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        state = self.unsealed(stored_event)
        # Tens of thousands of new objects that all stay alive would set off cyclic-GC passes over the whole
        # heap (measured: several times the decode itself in a server process); they form no cycles.
        enabled = gc.isenabled()
        gc.disable()
        try:
            return super().to_domain_event(replace(stored_event, state=state))
        finally:
            if enabled:
                gc.enable()

    def unsealed(self, stored: StoredEvent) -> bytes:
        """The stored bytes after the seal, if the seal verifies; else SnapshotRejected saying why."""
        verifier = self.keys.log_verifier()
        if verifier is None:
            raise SnapshotRejected("no log key here to check the snapshot's seal with")
        seal, end, state = bytes(stored.state).partition(SEAL_END)
        if not end or not snapshot_seal_ok(verifier, str(stored.originator_id), stored.originator_version,
                                           _digest(state), seal.decode("ascii", "replace")):
            raise SnapshotRejected("its seal does not verify: the snapshot row was edited, moved or not made here")
        return state


def _digest(state: bytes) -> str:
    return hashlib.sha256(state).hexdigest()


class SnapshotRepository(Repository):
    """The library's repository, using a snapshot only when it checks out (see the module's docstring)."""

    interval = SNAPSHOT_INTERVAL
    on_long_replay: Callable[[UUID, int], None] = staticmethod(lambda aggregate_id, version: None)
    rejected = 0  # snapshots ignored since start

    @classmethod
    def taking_over(cls, base: Repository, interval: int, on_long_replay: Callable[[UUID, int], None]) -> Any:
        """This class over the repository the library built from its settings (cache, fast-forward …)."""
        repository = cls.__new__(cls)
        repository.__dict__.update(vars(base))
        repository.interval, repository.on_long_replay = interval, on_long_replay
        return repository

    def _reconstruct_aggregate(self, aggregate_id: Any, version: int | None, projector_func: Any) -> Any:
        snapshot = self._snapshot(aggregate_id, version)
        events: Iterator[Any]
        if snapshot is not None:
            # From the event at the snapshot's version: the one extra row the head check needs.
            events = iter(self.event_store.get(originator_id=aggregate_id, gt=snapshot.originator_version - 1,
                                               lte=version))
            at = next(events, None)
            if at is None or at.originator_version != snapshot.originator_version or \
                    getattr(at, "hash", None) != snapshot.state.get("head"):
                self._reject(aggregate_id, snapshot.originator_version,
                             "its head is not the hash of the stored event at its version")
                snapshot = None
        if snapshot is None:
            events = iter(self.event_store.get(originator_id=aggregate_id, lte=version))
        folded = _Counted(events)
        aggregate = (_fold if projector_func is project_aggregate else projector_func)(
            None, chain([snapshot] if snapshot else [], folded))
        if aggregate is None:
            raise AggregateNotFoundError(f"Aggregate {aggregate_id!r} version {version!r} not found.")
        if version is None and folded.count >= self.interval and isinstance(aggregate, DistrictLedger):
            self.on_long_replay(aggregate.id, aggregate.version)
        return aggregate

    def _snapshot(self, aggregate_id: Any, version: int | None) -> Snapshot | None:
        if self.snapshot_store is None or self.snapshot_store.mapper.keys.log_verifier() is None:
            return None  # off, or no key here to check a seal with (a copy opened without it): the events
        try:
            found = list(self.snapshot_store.get(originator_id=aggregate_id, desc=True, limit=1, lte=version))
        except SnapshotRejected as e:
            self._reject(aggregate_id, None, str(e))
            return None
        except MapperDeserialisationError as e:  # sealed here but unreadable now (an older state format …)
            self._reject(aggregate_id, None, f"it cannot be read: {e}")
            return None
        return found[0] if found else None

    def _reject(self, aggregate_id: Any, version: int | None, why: str) -> None:
        with _REJECTING:  # request threads load at once: `+=` alone could lose a count
            self.rejected += 1
        log.warning("snapshot of %s (version %s) not used, its events are folded instead: %s",
                    aggregate_id, version, why)


def _fold(aggregate: Any, events: Iterable[Any]) -> Any:
    """The library's `project_aggregate` without its per-event `isinstance` against a runtime-checkable
    Protocol: that check cost more than the fold itself (measured: 98 events folded in 1.4-2.3 ms with it,
    0.35-0.4 ms without), and every event here is one of our own classes, each with its `mutate`."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


_REJECTING = threading.Lock()


class _Counted:
    def __init__(self, events: Iterable[Any]):
        self.events, self.count = events, 0

    def __iter__(self) -> Iterator[Any]:
        for event in self.events:
            self.count += 1
            yield event


class Snapshotter:
    """One background thread per process taking the snapshots asked for; started on the first request."""

    def __init__(self, app: Any):
        self.app = app
        self._pending: dict[UUID, int] = {}  # ledger → the version to snapshot it at (the newest asked)
        self._busy = False
        self._stopped = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self.taken = 0
        self.failed: str | None = None  # why the last snapshot failed (never a write's failure)

    def request(self, aggregate_id: UUID, version: int) -> None:
        if self.app.snapshots is None or self.app.log_signer is None:
            return  # snapshots off, or no key to seal them with (a read-only look)
        with self._changed:
            if self._stopped:
                return
            self._pending[aggregate_id] = max(version, self._pending.get(aggregate_id, 0))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kaohe-snapshots", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every snapshot asked for is taken (tests, benchmarks); False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._pending and not self._busy, timeout)

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._pending.clear()
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._busy = False
                self._changed.notify_all()
                self._changed.wait_for(lambda: self._pending or self._stopped)
                if self._stopped:
                    return
                asked = [self._pending.popitem() for _ in range(min(BATCH, len(self._pending)))]
                self._busy = True
            rows = []
            for aggregate_id, version in asked:
                try:
                    rows.append(self.sealed(aggregate_id, version))
                except Exception as e:  # noqa: BLE001 - a snapshot is an optimisation: the events stay the truth
                    self._failed(f"{aggregate_id} at version {version}", e)
            try:
                if rows:
                    self.store(rows)
            except Exception as e:  # noqa: BLE001 - as above
                self._failed(f"{len(rows)} ledger(s)", e)

    def _failed(self, what: str, e: Exception) -> None:
        self.failed = f"{type(e).__name__}: {e}"
        log.warning("snapshot of %s not taken: %s", what, self.failed)

    def sealed(self, aggregate_id: UUID, version: int) -> StoredEvent:
        """The ledger at `version` rebuilt from the store (as the library's `take_snapshot`), as a sealed row.

        Outside the write lock: on SQLite the process has one writer connection, which a command's save must
        never wait for (nor time out on) while a snapshot of thousands of findings is encoded.
        """
        ledger = self.app.repository.get(aggregate_id, version=version)
        return self.app.snapshots.mapper.to_stored_event(type(ledger).Snapshot.take(ledger))

    def store(self, rows: list[StoredEvent]) -> None:
        """Under the write lock: one transaction for the batch, one deleting the snapshots they replace (a
        bulk fill asks for many at once: one commit each would double its commits)."""
        recorder = self.app.snapshots.recorder
        with self.app.write_lock_for_snapshots():
            try:
                recorder.insert_events(rows)
                self.taken += len(rows)
            except IntegrityError:  # one is already there (asked twice, or another process took it)
                for row in rows:
                    with contextlib.suppress(IntegrityError):
                        recorder.insert_events([row])
                        self.taken += 1
            prune(self.app, [row.originator_id for row in rows])


# --- the snapshot table, by SQL (the library's recorder reads one aggregate at a time) -----------

def _table(app: Any) -> tuple[str, str]:
    """The snapshot table's name and the SQL placeholder of its store."""
    recorder = app.snapshots.recorder
    if app.views.is_postgres:
        return f'"{recorder.datastore.schema}"."{recorder.events_table_name}"', "%s"
    return recorder.events_table_name, "?"


def _id_param(app: Any, aggregate_id: UUID) -> Any:
    return aggregate_id if app.views.is_postgres else aggregate_id.hex  # as the library's recorders store it


def prune(app: Any, ledgers: Iterable[UUID]) -> None:
    """Only the newest snapshot of a ledger is kept: older ones would only serve a historical load."""
    table, p = _table(app)
    with app.snapshots.recorder.datastore.transaction(commit=True) as cursor:
        for aggregate_id in set(ledgers):
            ledger = _id_param(app, aggregate_id)
            cursor.execute(f"DELETE FROM {table} WHERE originator_id = {p} AND originator_version < "
                           f"(SELECT MAX(originator_version) FROM {table} WHERE originator_id = {p})", (ledger, ledger))


def stored(app: Any) -> list[StoredEvent]:
    """Every stored snapshot, as the library's rows."""
    if app.snapshots is None:
        return []
    table, _ = _table(app)
    with app.snapshots.recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(f"SELECT originator_id, originator_version, topic, state FROM {table} "
                       "ORDER BY originator_id, originator_version")
        rows = cursor.fetchall()
    convert = app.snapshots.recorder.convert_originator_id if not app.views.is_postgres else (lambda v: v)
    return [StoredEvent(originator_id=convert(r["originator_id"]), originator_version=r["originator_version"],
                        topic=r["topic"], state=bytes(r["state"])) for r in rows]


def problems(app: Any) -> list[dict[str, Any]]:
    """`verify`'s check of the snapshots: each must carry the service's seal and equal the ledger folded from its
    events alone up to its version. The chains themselves are checked from the events, never from a snapshot."""
    found = []
    for row in stored(app):
        where = {"aggregate": str(row.originator_id), "version": row.originator_version, "position": None}
        mapper: SnapshotMapper = app.snapshots.mapper
        try:
            state = mapper.unsealed(row)
        except SnapshotRejected as e:
            if app.log_verifier() is None:
                state = bytes(row.state).partition(SEAL_END)[2]  # no key here: the content is still compared
            else:
                found.append({**where, "problem": f"snapshot not used: {e}"})
                continue
        try:
            restored = Mapper.to_domain_event(mapper, replace(row, state=state)).mutate(None)
        except Exception as e:  # noqa: BLE001 - an unreadable snapshot is itself the finding
            found.append({**where, "problem": f"snapshot cannot be read: {type(e).__name__}: {e}"})
            continue
        folded = _fold(None, app.events.get(originator_id=row.originator_id, lte=row.originator_version))
        if folded is None or folded.version != row.originator_version or restored != folded:
            found.append({**where, "problem": "snapshot differs from the ledger folded from its events: the snapshot "
                                              "table was edited (a load ignores it only if its seal fails)"})
    return found
