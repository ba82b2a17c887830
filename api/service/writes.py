"""The write path every command takes: role check, input check, one atomic save, retry, idempotency.

A command builds its changed aggregates and its answer in `build`; `_write` saves them in one
`save()` (one transaction). A concurrent write to the same aggregate (`IntegrityError`) is
retried after a short random pause; an `idempotency_key` makes a repeated command return its
first answer and record nothing new. Every write's answer carries the store position it
reached, so a read that follows can wait for the views to show it. A save the database
refuses (disk full, read-only) is `Unavailable` (503): the transaction rolled back, nothing
was recorded, and `write_failure` says so to /health until a save succeeds again.

Every hash-chained event is signed by the service's log key just before it is stored, and every
write's receipt carries its `log` entry (leaf index, signed checkpoint, inclusion proof): the Merkle
log takes the events in the same transaction that stores them (api.service.log_integration).
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import threading
import time
from typing import Any, Callable

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, OperationalError, PersistenceError

from domain.actors import Actor, require_writer
from domain.chained import ChainedAggregate
from domain.errors import Conflict, DomainError, InvalidInput, Unavailable
from domain.idempotency import IdempotencyRecord, idempotency_id
from domain.log_check import sign_event
from domain.rubric import canonical_json
from domain.text import check_input, iso_date
from domain.year import AssessmentYear
from api.service.cache_horizon import CacheHorizon
from api.service.own_writes import OwnWrites
from api.service.write_locks import AggregateLocks

MAX_ATTEMPTS = 20
YEAR_RECHECK = 0.25  # seconds
LAST_EVENT = "_last_event"  # in an answer until it leaves the write path: the event its receipt's log proves
# What SQLite and PostgreSQL say when they refuse a write the command itself is fine for.
STORE_REFUSALS = ("database or disk is full", "readonly database", "read-only", "disk i/o error",
                  "no space left", "could not extend file", "could not write", "database is locked")


def refused_by_store(e: BaseException) -> bool:
    """A write the database would not take (disk full, read-only file or transaction), not a bug."""
    if isinstance(e, IntegrityError):
        return False
    if isinstance(e, (OperationalError, sqlite3.OperationalError)):
        return True
    return isinstance(e, (PersistenceError, sqlite3.DatabaseError)) and any(
        r in str(e).lower() for r in STORE_REFUSALS)


def unavailable(e: BaseException) -> Unavailable:
    return Unavailable(f"数据库暂时不能写入，本次操作没有记录，请稍后重试 (the database refused the write: {e})")
MAX_ROWS = 5000  # rows in one batch call (a year's whole bulk entry is a few hundred)
MAX_ROW_ERRORS = 100  # row errors listed in a refused batch's details


class StaleRead(RuntimeError):
    """A batched command read a ledger from the cache without fast-forward and did not save it."""


class IdempotencyKeyReused(InvalidInput):
    code = "idempotency_key_reused"


class WritePath:
    """Mixed into `KaoheApp` (an eventsourcing Application)."""

    system_actor = Actor("kaohe", "admin")  # for reads the service makes on its own behalf (replay, export)

    def init_write_path(self) -> None:
        self._write_lock = threading.RLock()
        self._command = threading.local()  # the aggregates the running command has touched
        self._batch: list | None = None  # inside run_together: aggregates waiting for one save
        self._batch_writers: list[Actor] = []  # … and the actors of its commands
        self._horizon = CacheHorizon(self)  # PostgreSQL: which cached ledgers others moved on (run_together)
        self._year_checked: dict[int, float] = {}  # year → when the store was last asked about it
        self.written_position = 0  # the newest store position this process wrote
        self.own_writes = OwnWrites()  # … and each caller's newest (what its reads wait for)
        self.write_failure: tuple[float, str] | None = None  # (monotonic time, why) of a refused save
        self.aggregate_locks = AggregateLocks(self.env_dict())  # PostgreSQL: see api.service.write_locks

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        signer = getattr(self, "log_signer", None)
        if signer is not None:
            # Each aggregate once: 200 rows on one ledger would sign each of its events 200 times.
            for obj in each_once(objs):
                for event in getattr(obj, "pending_events", ()):
                    if isinstance(event, ChainedAggregate.Event):
                        # Not covered by the chain hash (like `hash` itself): a signature over it.
                        object.__setattr__(event, "signature", sign_event(signer, event.hash))
        self.aggregate_locks.take(self.aggregate_locks.saved_ids(list(objs)))
        try:
            recordings = super().save(*objs, **kwargs)  # type: ignore[misc]
        except Exception as e:
            if refused_by_store(e):
                self.write_failure = (time.monotonic(), f"{type(e).__name__}: {e}")
            raise
        finally:
            self.aggregate_locks.release()
        self.write_failure = None
        if recordings:
            self.written_position = max(self.written_position, recordings[-1].notification.id)
            if getattr(self, "runner", None) is not None:
                self.runner.nudge()
        return recordings

    def _get(self, aggregate_id: Any, *, fastforward: bool = True) -> Any:
        """Get an aggregate, noting it as touched by the running command (see `_write`).

        Within one command an aggregate got twice is the same object, so the rows of a batch
        that touch one ledger append to one chain (with or without the aggregate cache).
        `fastforward=False`: a cached aggregate as it is, without asking the store for newer events.
        """
        touched = getattr(self._command, "touched", None)
        if touched is not None and aggregate_id in touched:
            return touched[aggregate_id]
        aggregate = None
        if fastforward and getattr(self._command, "in_batch", False):
            # The batch looked once for what others wrote (api.service.cache_horizon); this command must then
            # save what it read so (checked in _write_once_saved).
            aggregate = self._horizon.current(aggregate_id)
            if aggregate is not None:
                self._command.unforwarded.add(aggregate_id)
        if aggregate is None and not fastforward and self.repository.cache is not None:
            try:
                aggregate = self.repository.cache.get(aggregate_id)
            except KeyError:
                pass
        if aggregate is None:
            aggregate = self.repository.get(aggregate_id)
            if fastforward:
                self._horizon.forwarded(aggregate_id)
        if touched is not None:
            touched[aggregate_id] = aggregate
        return aggregate

    def _open_year(self, year: int) -> AssessmentYear:
        # The year changes rarely: it is read from the cache as it is (no store read per command, on
        # PostgreSQL either) and looked at again at most every YEAR_RECHECK. A write racing a close in
        # another process still conflicts: the close is written to every ledger too.
        y = self._recent_year(year)
        y.check_open()
        return y

    def _recent_year(self, year: int) -> AssessmentYear:
        """The year as cached here, looked at again in the store at most every YEAR_RECHECK (not a store
        read per command or per page: on PostgreSQL every fast-forward of the one year aggregate queues on
        the library's lock for it, measured as most of a score read under 16 readers)."""
        y = self._year(year, fastforward=False)
        if self._year_may_have_moved(y):
            # Another process closed (or otherwise moved) the year since it was cached here.
            self._evict([y])
            y = self._year(year)
        return y

    def _year_may_have_moved(self, y: AssessmentYear) -> bool:
        """Look in the store for newer year events, at most every YEAR_RECHECK seconds.

        A close in this process is seen at once (the cached year is the one it closed); a
        close by another process sharing the SQLite file is seen within YEAR_RECHECK.
        """
        now = time.monotonic()
        if now - self._year_checked.get(y.year, -YEAR_RECHECK) < YEAR_RECHECK:
            return False
        self._year_checked[y.year] = now
        return bool(list(self.events.get(y.id, gt=y.version)))

    def _write(self, actor: Actor, command: str, args: dict[str, Any], build: Callable[[], tuple[list, dict]],
               idempotency_key: str | None = None, *, hinted: bool = True) -> dict[str, Any]:
        """Run `build` (→ aggregates to save, response) and save atomically; retry on conflict.

        Every aggregate the command got is evicted from the cache if anything goes wrong, so a
        half-run command can never leave a changed aggregate behind. Inside `run_together`
        the save is left to the batch.
        """
        require_writer(actor)
        for field, value in args.items():
            check_input(value, field)
        # What an Idempotency-Key's retry must repeat exactly (nothing to compare without a key).
        fingerprint = hashlib.sha256(canonical_json({"command": command, "args": args})).hexdigest() \
            if idempotency_key else ""
        started = time.perf_counter()
        try:
            # A batch touches many aggregates, different ones each time: taking the last batch's
            # locks in advance would cost a round trip each and protect nothing (see write_locks).
            hint = self.aggregate_locks.hint_key(command, args) if hinted else None
            with self._write_lock:
                response = self._write_once_saved(actor, fingerprint, build, idempotency_key, hint)
                if self._batch is not None:
                    self._batch_writers.append(actor)
                    return response  # the batch saves, then answers every command's receipt at once
                self.own_writes.wrote([actor], self.reached_by(response))
            # Outside the write lock: the next write saves while this one's receipt is made.
            return self._with_log(response)
        finally:
            if self.metrics is not None:
                self.metrics.writes.labels(command).observe(time.perf_counter() - started)

    def _write_once_saved(self, actor: Actor, fingerprint: str, build: Callable[[], tuple[list, dict]],
                          idempotency_key: str | None, hint: tuple | None) -> dict[str, Any]:
        locks = self.aggregate_locks
        with self._write_lock:
            # PostgreSQL: hold the locks of what this command saved last time (and, after a
            # conflict, of what it tried to save then) while reading, so the read cannot be stale.
            expected = locks.expected(hint)
            for attempt in range(MAX_ATTEMPTS):
                self._command.touched = touched = {}
                self._command.unforwarded = unforwarded = set()
                aggregates: list[Any] = []
                try:
                    if self._batch is None:  # in a batch, the batch's save takes every lock at once
                        locks.take(expected)
                    if idempotency_key:
                        earlier = self._earlier_response(actor, idempotency_key, fingerprint)
                        if earlier is not None:
                            return earlier
                    aggregates, response = build()
                    aggregates = each_once(aggregates)
                    unsaved = unforwarded - {a.id for a in aggregates}
                    if unsaved:
                        # Read from the cache as it was (a batch on PostgreSQL) and not saved, so no version check
                        # would catch a stale read: refuse, and the batch runs each command alone.
                        raise StaleRead(sorted(map(str, unsaved)))
                    # Nothing recorded (a repeated heading): the receipt's own head is what its log proves.
                    last = last_chained_event(aggregates) or _receipt_of(response)
                    if last is not None:
                        response = {**response, LAST_EVENT: last}
                    if idempotency_key:
                        aggregates.append(IdempotencyRecord.take(
                            scope=actor.name, key=idempotency_key, fingerprint=fingerprint, response=response))
                    if self._batch is not None:
                        self._batch.extend(aggregates)
                        return response
                    self.save(*aggregates)
                except IntegrityError:
                    # Someone else wrote first: reload and try again, after a short random
                    # pause so two writers in a tight loop do not keep colliding.
                    self._evict(list(touched.values()))
                    if self.metrics is not None:
                        self.metrics.conflicts.inc()
                    expected = [*expected, *locks.saved_ids(aggregates)]
                    time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                    continue
                except BaseException as e:
                    self._evict(list(touched.values()))
                    if refused_by_store(e):
                        raise unavailable(e) from e
                    raise
                finally:
                    locks.remember(hint, aggregates)
                    self._command.touched = None
                    locks.release()
                return response
        raise Conflict("并发写入冲突，请重试 (concurrent writes kept conflicting; try again)")

    def _write_rows(self, actor: Actor, command: str, args: dict[str, Any], field: str, rows: list[dict[str, Any]],
                    step: Callable[[int, dict[str, Any]], tuple[list, dict]], idempotency_key: str | None = None,
                    before: Callable[[], None] | None = None) -> dict[str, Any]:
        """A batch: the single command's `step` once per row, all inside one `_write` (one `save()`).

        All or nothing: every row is tried, and if any is refused nothing is saved and the
        refusal names the row and its field (`findings[3].measures.rate`), listing every
        refused row in `details`. Each row's answer (with its own receipt) is in order under `field`.
        """
        rows = check_rows(rows, field)
        for i, row in enumerate(rows):
            for name, value in row.items():
                check_input(value, f"{field}[{i}].{name}")

        def build() -> tuple[list, dict]:
            if before is not None:
                before()
            aggregates: list = []
            answers: list[dict[str, Any]] = []
            refused: list[tuple[int, DomainError]] = []
            for i, row in enumerate(rows):
                try:
                    changed, answer = step(i, row)
                except DomainError as e:
                    refused.append((i, e))
                    continue
                aggregates.extend(changed)
                answers.append(answer)
            if refused:
                raise row_refusal(field, refused)
            return aggregates, {field: answers}

        return self._write(actor, command, {**args, field: rows}, build, idempotency_key, hinted=False)

    def _rehearse(self, actor: Actor, build: Callable[[], tuple[list, dict]]) -> dict[str, Any]:
        """Run a command's `build` and keep nothing: what it would record, for a preview (dry run).

        Under the write lock, so no other command sees the changed aggregates; every aggregate
        it got is dropped from the cache afterwards, so the next command reads them from the store.
        """
        require_writer(actor)
        with self._write_lock:
            self._command.touched = touched = {}
            try:
                return build()[1]
            finally:
                self._command.touched = None
                self._evict(list(touched.values()))

    def reached_by(self, response: dict[str, Any]) -> int:
        """The store position a command's answer is visible at: an idempotent replay answers a write that may
        have been made by another process, at any position up to the store's head."""
        if response.get("idempotent_replay"):
            return max(self.written_position, self.recorder.max_notification_id() or 0)
        return self.written_position

    def run_together(self, commands: list[Callable[[], dict[str, Any]]]) -> list[dict[str, Any] | BaseException]:
        """Run several commands and save all they changed in one transaction (group commit).

        One transaction means one fsync for many commands. If any command is refused or the
        save conflicts, nothing of the batch was stored: every command then runs again on its
        own, with its own retries, and the refused one is refused again.
        """
        results: list[dict[str, Any] | BaseException] = []
        saved = False
        with self._write_lock:
            self._batch = batch = []
            self._batch_writers = []
            try:
                self._command.in_batch = True  # this thread's commands; other threads fast-forward as ever
                self._horizon.look()
                for command in commands:
                    results.append(command())
                self.save(*batch)
                saved = True
                self.own_writes.wrote(self._batch_writers, self.written_position)
            except Exception:
                self._evict(batch)  # nothing of the batch was stored: each command runs again alone
            except BaseException:
                self._evict(batch)
                raise
            finally:
                self._batch = None
                self._command.in_batch = False
        if saved:  # outside the write lock: the batch's one checkpoint, its proofs from the insert's nodes
            entries = self.log_entries([r[LAST_EVENT]["head"] for r in results if LAST_EVENT in r],
                                       integrated=self._integrated())
            return [self._with_log(r, entries=entries) for r in results]
        alone: list[dict[str, Any] | BaseException] = []
        for command in commands:
            try:
                alone.append(command())
            except Exception as e:  # noqa: BLE001 - handed back to that command's caller
                alone.append(e)
        return alone

    def _integrated(self) -> Any:
        """What this thread's last save added to the Merkle log (None when the log is off)."""
        integration = getattr(self, "recorder", None) and getattr(self.recorder, "integration", None)
        return integration.take() if integration is not None else None

    def _with_log(self, response: dict[str, Any], entries: dict[str, Any] | None = None) -> dict[str, Any]:
        """The answer with its receipt's `log` entry: the last event the write recorded, in the log since
        its commit (`entries`: already made for a whole batch)."""
        last = response.get(LAST_EVENT)
        answer = {k: v for k, v in response.items() if k != LAST_EVENT}
        integrated = self._integrated()
        if last is None or getattr(self.recorder, "integration", None) is None:
            return answer
        if entries is None:
            entries = self.log_entries([last["head"]], integrated=integrated)
        receipt = answer.get("receipt")
        answer["receipt"] = {**(receipt if isinstance(receipt, dict) else last), "log": entries.get(last["head"])}
        return answer

    def _earlier_response(self, actor: Actor, key: str, fingerprint: str) -> dict[str, Any] | None:
        try:
            record = self.repository.get(idempotency_id(actor.name, key))
        except AggregateNotFoundError:
            return None
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                "Idempotency-Key 已用于另一个请求 (this Idempotency-Key was used with a different request)",
                field="Idempotency-Key",
            )
        return {**record.response, "idempotent_replay": True}

    def _evict(self, aggregates: list) -> None:
        cache = self.repository.cache
        if cache is None:
            return
        for aggregate in aggregates:
            try:
                cache.get(aggregate.id, evict=True)
            except KeyError:
                pass

    # --- checks on a command's input -------------------------------------------------

    @staticmethod
    def _check_district(y: AssessmentYear, district: str, field: str = "district") -> None:
        if district not in y.district_set:
            raise InvalidInput(f"{y.year} 年度没有被考核单位 {district!r} (unknown district)", field=field)

    @staticmethod
    def _business_date(year: int, value: str | None, field: str, *, required: bool) -> str | None:
        """An Asia/Shanghai calendar date inside the assessment year, as ISO text."""
        if value in (None, ""):
            if required:
                raise InvalidInput(f"{field} 必填，格式 YYYY-MM-DD ({field} is required)", field=field)
            return None
        day = iso_date(value, field)
        if day.year != year:
            raise InvalidInput(f"{field} 不在 {year} 年度内 (date outside the year: {value})", field=field)
        return day.isoformat()


def each_once(aggregates: Any) -> list[Any]:
    """The aggregates in order, each once: a batch names a ledger once per row that touched it."""
    return list({id(a): a for a in aggregates}.values())


def check_rows(rows: Any, field: str) -> list[dict[str, Any]]:
    """A batch's rows: a non-empty list of objects, at most MAX_ROWS."""
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InvalidInput(f"{field} 必须是对象列表 (must be a list of objects)", field=field)
    if not rows:
        raise InvalidInput(f"{field} 至少要有一行 (at least one row)", field=field)
    if len(rows) > MAX_ROWS:
        raise InvalidInput(f"{field} 一次最多 {MAX_ROWS} 行 (at most {MAX_ROWS} rows a call)", field=field)
    return rows


def row_refusal(field: str, refused: list[tuple[int, DomainError]]) -> DomainError:
    """The refusal of a batch: the first refused row's error, its field prefixed with the row
    (`findings[3].measures.rate`), every refused row listed in `details.rows`."""
    listed = [{"row": i, "field": f"{field}[{i}]" + (f".{e.field}" if e.field else ""), "code": e.code,
               "message": e.message} for i, e in refused[:MAX_ROW_ERRORS]]
    i, first = refused[0]
    more = f"，另有 {len(refused) - 1} 行也有错误" if len(refused) > 1 else ""
    error = type(first)(f"第 {i + 1} 行（{field}[{i}]）：{first.message}{more}", field=listed[0]["field"],
                        details={"rows": listed, "refused": len(refused)})
    return error


def last_chained_event(aggregates: list) -> dict[str, Any] | None:
    """The receipt of the last hash-chained event among the aggregates' pending events (the save's order)."""
    last = None
    for aggregate in aggregates:
        for event in getattr(aggregate, "pending_events", ()):
            if isinstance(event, ChainedAggregate.Event):
                last = {"aggregate": str(event.originator_id), "version": event.originator_version, "head": event.hash}
    return last


def _receipt_of(response: dict[str, Any]) -> dict[str, Any] | None:
    receipt = response.get("receipt")
    return receipt if isinstance(receipt, dict) and receipt.get("head") else None


def strings(values: Any, field: str) -> list[str]:
    """A list of text (evidence references, district names), or a refusal naming the field."""
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidInput(f"{field} 必须是字符串列表 (must be a list of strings)", field=field)
    return values
