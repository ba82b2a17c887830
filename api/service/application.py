"""The application service (`KaoheApp`): every use case of kaohe as a method, for HTTP, the pages,
the command line and tests.

It is one `eventsourcing` Application assembled from small parts: the write path
(`writes.py`), the use cases (`commands/`), the reads (`reads/`) and the history readers
(`history.py`). `bootstrap.py` builds it with its views and projection runner.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import nullcontext
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent, Repository
from eventsourcing.persistence import EventStore, Transcoder
from eventsourcing.utils import strtobool

from api.service import history
from api.service.commands.bulletin import BulletinCommands
from api.service.commands.corrections import CorrectionCommands
from api.service.commands.cycle import CycleCommands
from api.service.commands.findings import FindingCommands
from api.service.commands.imports import ImportCommands
from api.service.commands.office import OfficeCommands
from api.service.commands.years import YearCommands
from api.service.evidence import EvidenceCommands
from api.service.reads.cycle import CycleReads
from api.service.log import LogService
from api.service.reads.documents import DocumentReads
from api.service.reads.records import RecordReads
from api.service.reads.scores import ScoreReads
from api.service.rubric_files import load_rubric
from api.service.snapshots import SNAPSHOT_INTERVAL, SnapshotMapper, SnapshotRepository, Snapshotter
from api.service.storage import OrjsonTranscoder
from api.service.writes import WritePath
from domain.actors import Actor, require
from domain.errors import Conflict, NotFound
from domain.ledger import DistrictLedger, ledger_id, ledger_prefix, recorded_at
from domain.lifecycle import DistrictHistory
from domain.rubric import Rubric
from domain.year import AssessmentYear, year_id
from projections.merkle_log import MerkleLog

READ_WAIT = 5.0  # seconds a read waits for the views to reach a write it must see


class KaoheApp(ScoreReads, RecordReads, DocumentReads, CycleReads, YearCommands, FindingCommands, OfficeCommands,
               BulletinCommands, CorrectionCommands, ImportCommands, CycleCommands, EvidenceCommands, LogService,
               WritePath, Application):
    name = "kaohe"
    env = {
        # Without the cache every command replays the whole district history (notes: 59 writes/s).
        "AGGREGATE_CACHE_MAXSIZE": "20000",
        # Commands validate before they trigger events and a failed save evicts the aggregate,
        # so copying every cached aggregate on every get (O(history)) buys nothing.
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }
    # A cold load of a long ledger reads its newest snapshot, not its whole history (api.service.snapshots).
    # IS_SNAPSHOTTING_ENABLED=n turns them off; KAOHE_SNAPSHOT_INTERVAL sets how many events apart they are.
    is_snapshotting_enabled = True

    def __init__(self, env: dict[str, str] | None = None):
        self.log_signer: Any = None  # read by the snapshot store the library builds in super().__init__
        self.snapshotter = Snapshotter(self)
        super().__init__(env)
        self.init_write_path()
        self._rubrics: dict[int, Rubric] = {}
        self._prefixes: dict[int, dict[str, list[str]]] = {}  # year → ledger id prefix → districts
        self._remembered: OrderedDict[tuple[str, int], tuple[int | None, Any]] = OrderedDict()  # ScoreReads.remembered
        self._remembering = threading.Lock()
        self._computing: dict[tuple[str, int], threading.Lock] = {}  # one per answer: who makes it (remembered)
        self._rankings: dict[tuple, Any] = {}  # (year, line) → its ranking kept in memory (ScoreReads.ranking)
        # Set by bootstrap.build: the views, the catch-ups over them and the runner that drives them,
        # and the log's signer key.
        self.views: Any = None
        self.catchup: Any = None
        self.log_integration: Any = None
        self.runner: Any = None
        self.metrics: Any = None
        self.new_projections: Any = None  # () → fresh, empty projections (a rebuild fills them)

    @classmethod
    def from_url(cls, url: str | None = None, *, follow: bool = True, **extra: str) -> KaoheApp:
        from api.service.bootstrap import build

        return build(url, follow=follow, **extra)

    def env_dict(self) -> dict[str, str]:
        keys = ("PERSISTENCE_MODULE", "SQLITE_DBNAME", "POSTGRES_DBNAME", "POSTGRES_HOST", "POSTGRES_PORT",
                "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_SCHEMA")
        return {k: self.env.get(k) or "" for k in keys}

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    # --- snapshots (api.service.snapshots) ------------------------------------------------

    @property
    def snapshot_interval(self) -> int:
        return int(self.env.get("SNAPSHOT_INTERVAL") or SNAPSHOT_INTERVAL)

    def construct_snapshot_store(self) -> EventStore | None:
        if not strtobool(self.env.get("CREATE_TABLE") or "y") and not self._snapshot_table_exists():
            return None  # a read-only look at a store from before snapshots: nothing to read, nothing to create
        return self.factory.event_store(mapper=SnapshotMapper(self.mapper.transcoder, self),
                                        recorder=self.factory.aggregate_recorder(purpose="snapshots"))

    def _snapshot_table_exists(self) -> bool:
        datastore = self.recorder.datastore
        if self.env.get("PERSISTENCE_MODULE", "").endswith("sqlite"):
            sql, args = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", ("stored_snapshots",)
        else:
            sql, args = "SELECT to_regclass(%s) IS NOT NULL AS found", (f'"{datastore.schema}".kaohe_snapshots',)
        with datastore.transaction(commit=False) as cursor:
            cursor.execute(sql, args)
            row = cursor.fetchone()
        return bool(row and (row["found"] if isinstance(row, dict) else row[0]))

    def construct_repository(self) -> Repository:
        return SnapshotRepository.taking_over(super().construct_repository(), self.snapshot_interval,
                                              self.snapshotter.request)

    def write_lock_for_snapshots(self) -> Any:
        """SQLite: the write path's lock (one writer connection per process); PostgreSQL: none needed."""
        return nullcontext() if self.views.is_postgres else self._write_lock

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        # The commands already hold it (writes.py); a save from elsewhere (a bulk fill) must too, so the
        # snapshotter's writes (which take it) never share SQLite's one writer connection with a save.
        with self._write_lock:
            return super().save(*objs, **kwargs)

    def _take_snapshots(self, processing_event: ProcessingEvent) -> None:
        """After a save: a ledger this save took past a multiple of the interval is snapshotted, in the background."""
        if self.snapshots is None or self.log_signer is None:
            return
        interval = self.snapshot_interval
        saved: dict[Any, int] = {}  # ledger id → its events in this save
        for event in processing_event.events:
            saved[event.originator_id] = saved.get(event.originator_id, 0) + 1
        for aggregate_id, count in saved.items():
            ledger = processing_event.aggregates.get(aggregate_id)
            if isinstance(ledger, DistrictLedger) and ledger.version // interval > (ledger.version - count) // interval:
                self.snapshotter.request(aggregate_id, ledger.version)

    def close(self) -> None:
        try:
            self.snapshotter.stop()
            if self.runner is not None:
                self.runner.stop()
            if self.views is not None:
                self.views.close()
            self.aggregate_locks.close()
        finally:
            super().close()

    # --- the read side ------------------------------------------------------------

    def catch_up(self) -> int:
        """Bring the views up to the store now (the command line, the runner, tests)."""
        return self.catchup.run()

    def holds_own_writes(self, caller: Actor | None = None) -> bool:
        """Whether the views already show what `fresh` would wait for (the caller's own writes), without waiting."""
        reached = self.catchup.caught_up_to
        return reached is not None and reached >= self.own_writes.of(caller, self.written_position)

    def fresh(self, after: int | None = None) -> None:
        """Before a read: wait (bounded) until the views hold the writes the read's caller made in this process
        (api.service.own_writes; every write of this process when no caller is known), and `after`.

        Without a running runner (a one-shot command line), catch up here instead. Right after start,
        the views are first brought up to what the store held when the first read came.
        """
        reached = self.catchup.caught_up_to
        if after and after > (reached or 0):
            # A position the store has not reached (a guess, a typo) would hold the read for READ_WAIT.
            after = min(after, self.recorder.max_notification_id() or 0)
        target = max(self.own_writes.of(None, self.written_position), after or 0)
        if reached is None:  # just started: show at least what the store held when the first read came
            target = max(target, self.recorder.max_notification_id() or 0)
        if target == 0 or (reached or 0) >= target:
            return
        if self.runner is None or not self.runner.running:
            self.catch_up()
            return
        self.runner.nudge()
        if self.runner.error is None:
            self.catchup.wait_for(target, READ_WAIT)

    def verify(self, year: int | None = None, actor: Any = None) -> dict[str, Any]:
        """Walk every stored hash chain (of one year, or all); see api.service.history.verify."""
        if actor is not None:
            require(actor, "verify")
        if year is not None:
            self._year(year)  # 404 for a year never opened
        return history.verify(self, year)

    def replay(self, year: int) -> dict[str, Any]:
        """Rebuild every projection from the store, verifying the history in the same read; return the final
        ranking, the history's digest and the verification (`verified`, as `verify` gives it)."""
        self._remembered.clear()
        if year is not None:
            self._year(year)  # 404 for a year never opened
        check = history.HistoryCheck(self, vouched=True)  # reads what the live audit log has seen: before the swap
        # The log's tables are views too: rebuilt in the same swap (never the signed checkpoints).
        self.catchup.rebuild([*self.new_projections(), MerkleLog(integrating=False)], observe=check.feed)
        self._rankings.clear()  # the fresh views stamped their rows anew
        self.log_integration.forget()  # its memory belongs to the views before the swap
        self.log_integration.run()
        verified = check.result(year, scores=False)
        if not verified["ok"]:
            # Something is wrong: the full walk (every signature too) names each problem as `kaohe verify` does.
            verified = history.verify(self, year, before=check)
        ranking = self.scores(self.system_actor, year)
        return {**ranking, "digest": verified["head"], "verified": verified}

    # --- aggregates ---------------------------------------------------------------

    def rubric_of_year(self, year: int) -> Rubric:
        """The rubric a year pinned when it opened; refuses one whose content has changed since."""
        rubric = self._rubrics.get(year)
        if rubric is None:
            y = self._year(year)
            rubric = load_rubric(y.rubric, stored=self.stored_rubric_text)
            if rubric.content_hash != y.rubric_hash:
                raise Conflict(
                    f"{year} 年度锁定的考核细则 {y.rubric} 已被修改 (rubric content hash changed since the year opened)"
                )
            self._rubrics[year] = rubric
        return rubric

    def _year(self, year: int, *, fastforward: bool = True) -> AssessmentYear:
        try:
            return self._get(year_id(year), fastforward=fastforward)
        except AggregateNotFoundError:
            raise NotFound(f"没有 {year} 年度的考核 (year {year} is not open)") from None

    def _ledger(self, year: int, district: str) -> DistrictLedger:
        return self._get(ledger_id(year, district))

    def _ledger_holding(self, year: int, item_id: str, what: str) -> DistrictLedger:
        """The ledger a finding, dispute or submission id belongs to, found from the id itself (its first hex digits
        name the ledger), never through the views. Ids written before that rule: every ledger is asked."""
        y = self._year(year)
        prefixes = self._prefixes.get(year)
        if prefixes is None:
            prefixes = {}
            for d in y.districts:
                prefixes.setdefault(ledger_prefix(year, d), []).append(d)
            self._prefixes[year] = prefixes
        try:
            prefix = UUID(str(item_id)).hex[:8]
        except ValueError:
            raise NotFound(f"{year} 年度没有{what} {item_id}") from None
        candidates = prefixes.get(prefix, [])
        for district in [*candidates, *(d for d in y.districts if d not in candidates)]:
            ledger = self._ledger(year, district)
            history = ledger.history
            if item_id in history.findings or item_id in history.disputes or item_id in history.submissions:
                return ledger
        raise NotFound(f"{year} 年度没有{what} {item_id}")

    def load_history(self, aggregate_id: str, upto_version: int, *, details: bool = False) -> DistrictHistory:
        """A ledger's history read from the store up to a version (the scoreboard's source of truth)."""
        folded = DistrictHistory(details=details)
        for stored in self.recorder.select_events(UUID(str(aggregate_id)), lte=upto_version):
            event = self.mapper.to_domain_event(stored)
            folded.apply(type(event).__name__, vars(event), recorded_at(event), event.originator_version)
        return folded

    def _workflow(self, cls: type, year: int, aggregate_id: str, what: str) -> Any:
        try:
            aggregate = self._get(UUID(str(aggregate_id)))
        except (AggregateNotFoundError, ValueError):
            raise NotFound(f"没有这个{what}: {aggregate_id}") from None
        if not isinstance(aggregate, cls) or aggregate.year != year:
            raise NotFound(f"{year} 年度没有这个{what}: {aggregate_id}")
        return aggregate
