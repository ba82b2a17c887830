"""Catching the read side up with the event store, on SQLite and PostgreSQL alike.

The library's SQLite recorder has no subscribe(), so instead of its ProjectionRunner we
read the notification log from each projection's tracked position. Each batch of events
and the new positions are written in one transaction, so a crash or restart neither
skips nor double-counts an event.
"""

from __future__ import annotations

import gc
import threading
from typing import Any, Callable, NamedTuple, Protocol, Sequence

import orjson
from eventsourcing.utils import resolve_topic

from projections.store import Transaction, ViewStore

BATCH = 500
# A rebuild reads this many events per transaction: few commits, each district's row touched once a batch.
# (On SQLite the events share the file, so a batch holds up the store's writers for its length: ~0.1 s.)
REBUILD_BATCH = 10_000
TAG = b'"_type_"'  # the library's tagged values ({"_type_": "datetime_iso", "_data_": ...})
# The hash-chained aggregates: the history the projections show and verify checks.
HISTORY = frozenset({"AssessmentYear", "DistrictLedger", "Meeting", "MeetingIndex", "Report", "Task", "Bulletin"})
STANDARD_FIELDS = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic", "actor", "hash",
                             "prev_hash", "signature"})


class Fact(NamedTuple):
    """One event as the projections see it: where it sits, whose it is, and its data.

    A named tuple (made with tuple.__new__ in `_fact`): a rebuild makes one per stored event.
    """

    position: int
    aggregate_id: str
    kind: str  # the aggregate class: DistrictLedger, AssessmentYear, Meeting, Report, Task, Bulletin
    type: str  # the event class: FindingRecorded, ...
    version: int
    year: int | None
    district: str | None
    recorded_at: str
    actor: dict
    data: dict
    hash: str
    prev_hash: str


class Projection(Protocol):
    name: str

    def apply(self, tx: Transaction, fact: Fact) -> None: ...

    def finish(self, tx: Transaction) -> None: ...


# Called with each notification read and its stored state as decoded (timestamp as ISO text), before any
# upcasting: `kaohe replay` verifies the history in the same pass as it rebuilds (api.service.history).
Observer = Callable[[Any, dict], None]


class CatchUp:
    """Reads new notifications and hands them, decoded, to every projection behind them."""

    reads_data = True  # whether the projections read an event's own fields (`Fact.data`)

    def __init__(self, app: Any, views: ViewStore, projections: Sequence[Projection], *, batch: int = BATCH,
                 observe: Observer | None = None):
        self.app = app
        self.views = views
        self.projections = list(projections)
        self.batch = batch
        self.observe = observe
        self._classes: dict[str, tuple[str, Any, int]] = {}  # topic → (qualified name, class, class_version)
        self._lock = threading.Lock()
        self._aggregates: dict[str, tuple[str, int | None, str | None]] = {}
        self._caught_up_to: int | None = None  # every projection has read at least this far
        self._reached = threading.Condition()  # notified when `_caught_up_to` moves on
        # Said in a catch-up's last transaction, with the position reached (the store's leader: its SETTLED row,
        # projections.leader.announce_in); `announced` is the last position said and committed.
        self.announce: Callable[[Transaction, int], None] | None = None
        self.announced: int | None = None

    def positions(self, tx: Transaction | None = None) -> dict[str, int]:
        rows = dict((tx or self.views).query("SELECT projection, position FROM view_tracking"))
        return {p.name: int(rows.get(p.name, 0)) for p in self.projections}

    def run(self) -> int:
        """Catch every projection up; return how many notifications were read."""
        known = self._caught_up_to  # read once: another thread may forget it meanwhile
        if known is not None and (self.app.recorder.max_notification_id() or 0) <= known:
            return 0  # the usual case: nothing new, so no write lock is taken
        read = 0
        with self._lock:
            try:
                read = self._run()
            except BaseException:
                for projection in self.projections:  # their memory may hold a rolled-back batch
                    getattr(projection, "forget", lambda: None)()
                self._caught_up_to = None
                raise
        return read

    def _run(self) -> int:
        read = 0
        announce = self.announce
        while True:
            with self.views.transaction() as tx:
                count, reached = self._batch(tx)
                last = count < self.batch  # the store had no more: no need for another round
                if last:
                    # Scored in the same commit as the events they score: one write transaction a catch-up,
                    # not two (on SQLite the events' writers wait for each), and no moment where the rows
                    # have moved on and their scores not yet (a read that waits for no write of its caller's
                    # would see it). So a scoring that fails (a rubric changed since its year opened) holds
                    # back every projection, not the scores alone: /health says degraded, with the reason.
                    self._settle_in(tx)
                    if announce is not None:
                        announce(tx, reached)
            read += count
            if last:
                break
        if announce is not None:
            self.announced = reached
        self._publish(reached)
        return read

    def _batch(self, tx: Transaction, positions: dict[str, int] | None = None,
               notifications: Sequence[Any] | None = None) -> tuple[int, int]:
        """One batch of notifications into every projection, and their new positions, inside `tx`.
        Returns how many were read and the position every projection has reached. (`positions` and
        `notifications`: known already, when the caller is the one that has just inserted them.)"""
        positions = positions or self.positions(tx)  # re-read under the write lock
        start = min(positions.values())
        if notifications is None:
            notifications = self._notifications(tx, start)
        if not notifications:
            return 0, start
        for projection in self.projections:  # one whose memory is tied to the stored views re-reads it
            begin = getattr(projection, "begin", None)
            if begin:
                begin(tx, positions[projection.name])
        for notification in notifications:
            fact = self._fact(tx, notification)
            for projection in self.projections:
                if notification.id > positions[projection.name]:
                    projection.apply(tx, fact)
        last = notifications[-1].id
        for projection in self.projections:
            projection.finish(tx)
        tx.executemany(  # together: one round trip on PostgreSQL
            "INSERT INTO view_tracking (projection, position) VALUES (?, ?) "
            "ON CONFLICT (projection) DO UPDATE SET position = excluded.position",
            [(projection.name, last) for projection in self.projections],
        )
        return len(notifications), last

    def _notifications(self, tx: Transaction, start: int) -> Sequence[Any]:
        """The next batch after `start`, through the library's recorder (it sees what is committed)."""
        return self.app.recorder.select_notifications(start=start, limit=self.batch, inclusive_of_start=False)

    def _settle_in(self, tx: Transaction) -> None:
        for projection in self.projections:
            settle_in = getattr(projection, "settle_in", None)
            if settle_in:
                settle_in(tx)

    def _publish(self, reached: int) -> None:
        # Published only after the settled commit: a reader that sees this position finds every score settled.
        with self._reached:
            self._caught_up_to = reached
            self._reached.notify_all()

    def followed(self, position: int) -> None:
        """Another process (the store's leader, projections.leader) has caught the views up to `position`."""
        if position > (self._caught_up_to or 0):
            self._publish(position)

    def wait_for(self, position: int, timeout: float) -> bool:
        """Wait (at most `timeout` seconds) until every projection has read `position`."""
        with self._reached:
            return self._reached.wait_for(
                lambda: self._caught_up_to is not None and self._caught_up_to >= position, timeout)

    def rebuild(self, projections: Sequence[Projection], observe: Observer | None = None) -> int:
        """Build the views afresh beside the live ones (`projections` are new, empty instances), then swap
        them in: a running server keeps answering from the old ones until the swap commits (blue/green).
        `observe` sees every event read, once, as it is read (the verification of `kaohe replay`).

        The bulk of the history is read in large batches without holding up the live views; the last events
        (written meanwhile) are read, settled and swapped in one transaction under the write lock.
        """
        shadow = self.views.shadow()
        fresh = CatchUp(self.app, shadow, projections, batch=REBUILD_BATCH, observe=observe)
        # The histories held meanwhile are millions of small objects that all stay alive: the cyclic GC would
        # rescan them again and again (as in api.service.history.fast_histories); none of them form cycles.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            read = fresh.run()
        finally:
            if gc_was_enabled:
                gc.enable()
        reached: list[int] = []

        def last_steps(tx: Transaction) -> None:
            nonlocal read
            while True:
                count, position = fresh._batch(tx)
                read += count
                if not count:
                    reached.append(position)
                    break
            fresh._settle_in(tx)

        with self._lock:  # no catch-up of the live views in this process meanwhile
            shadow.swap(last_steps)
            for projection in self.projections:
                getattr(projection, "forget", lambda: None)()
            self._publish(reached[0])
        return read

    @property
    def caught_up_to(self) -> int | None:
        """How far every projection is known to have read (None: not known in this process)."""
        return self._caught_up_to

    def forget(self) -> None:
        """After the views were emptied: nothing read, nothing known."""
        self._aggregates.clear()
        self._caught_up_to = None
        for projection in self.projections:
            getattr(projection, "forget", lambda: None)()

    def _decode(self, notification: Any) -> tuple[str, dict, str]:
        """(the event class's qualified name, its state, when it was recorded) of a notification.

        What the library's `mapper.to_domain_event` gives as `vars(event)` (upcasting included), without
        building the event: the state is read with one orjson.loads, and only when a value other than the
        timestamp is tagged does the transcoder walk it (tests/test_catchup_decode.py compares the two).
        """
        raw = notification.state
        mapper = self.app.mapper
        if mapper.cipher or mapper.compressor or not isinstance(raw, bytes):
            event = mapper.to_domain_event(notification)
            state = dict(vars(event))
            at = state["timestamp"].isoformat()
            state["timestamp"] = at
        else:
            state = orjson.loads(raw)
            stamp = state.get("timestamp")
            if raw.count(TAG) == 1 and isinstance(stamp, dict) and isinstance(stamp.get("_data_"), str):
                at = state["timestamp"] = stamp["_data_"]  # datetime.isoformat() text
            else:
                state = mapper.transcoder.decode(raw)
                at = state["timestamp"] = state["timestamp"].isoformat()
        if self.observe is not None:
            self.observe(notification, state)
        known = self._classes.get(notification.topic)
        if known is None:
            cls = resolve_topic(notification.topic)
            known = self._classes[notification.topic] = (cls.__qualname__, cls, getattr(cls, "class_version", 1))
        name, cls, current = known
        version = state.pop("class_version", 1)
        while version < current:
            getattr(cls, f"upcast_v{version}_v{version + 1}")(state)
            version += 1
        # As datetime.isoformat(timespec="microseconds"): isoformat() leaves out a zero microsecond.
        recorded_at = at if at[19:20] == "." else f"{at[:19]}.000000{at[19:]}"
        return name, state, recorded_at

    def _fact(self, tx: ViewStore, notification: Any) -> Fact:
        name, state, recorded_at = self._decode(notification)
        aggregate_id = str(notification.originator_id)
        kind, _, event_type = name.rpartition(".")
        if notification.originator_version == 1 and kind in HISTORY:
            known = (kind, state.get("year"), state.get("district"))
            self._aggregates[aggregate_id] = known
            tx.execute(
                "INSERT INTO view_aggregates (aggregate_id, kind, year, district) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (aggregate_id) DO NOTHING",
                (aggregate_id, *known),
            )
        known = self._aggregates.get(aggregate_id)
        if known is None:
            rows = tx.query("SELECT kind, year, district FROM view_aggregates WHERE aggregate_id = ?", (aggregate_id,))
            known = rows[0] if rows else (kind, None, None)
            self._aggregates[aggregate_id] = known
        data = {k: v for k, v in state.items() if k not in STANDARD_FIELDS} if self.reads_data else {}
        return _new_tuple(Fact, (notification.id, aggregate_id, known[0], event_type, notification.originator_version,
                                 known[1], known[2], recorded_at, state.get("actor") or {}, data,
                                 state.get("hash", ""), state.get("prev_hash", "")))


_new_tuple = tuple.__new__


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(text: str | bytes | None) -> Any:
    return None if text is None else orjson.loads(text)
