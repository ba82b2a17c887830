"""The application service: every use case of kaohe as a method, for HTTP, the command line and tests.

Each command checks the actor's role (domain.actors), gets the aggregates, runs the
domain command and saves every changed aggregate in one `save()` (one transaction).
A concurrent write to the same aggregate is retried; an `idempotency_key` makes a
repeated command return its first result and record nothing new.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from datetime import date
from typing import Any, Callable
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Transcoder

from api import history
from api.queries import Queries
from api.rubric_files import load_rubric
from api.storage import OrjsonTranscoder, database_url, library_env
from domain.actors import Actor, require_responsible, require_role, require_writer
from domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from domain.findings import check_measures
from domain.text import check_input
from domain.idempotency import IdempotencyRecord, idempotency_id
from domain.ledger import DistrictLedger, ledger_id
from domain.office import MEETING_CLAUSE, REPORT_CLAUSE, TASK_CLAUSE, Meeting, Report, Task
from domain.rubric import Rubric, RubricError, canonical_json
from domain.year import AssessmentYear, year_id
from projections.audit_log import AuditLog
from projections.catchup import CatchUp
from projections.dispute_queue import DisputeQueue
from projections.scoreboard import Scoreboard
from projections.store import ViewStore

MAX_ATTEMPTS = 20
YEAR_RECHECK = 0.25  # seconds


class IdempotencyKeyReused(InvalidInput):
    code = "idempotency_key_reused"


class KaoheApp(Queries, Application):
    name = "kaohe"
    env = {
        # Without the cache every command replays the whole district history (notes: 59 writes/s).
        "AGGREGATE_CACHE_MAXSIZE": "20000",
        # Commands validate before they trigger events and a failed save evicts the aggregate,
        # so copying every cached aggregate on every get (O(history)) buys nothing.
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }

    def __init__(self, env: dict[str, str] | None = None):
        super().__init__(env)
        self._write_lock = threading.RLock()
        self._command = threading.local()  # the aggregates the running command has touched
        self._batch: list | None = None  # inside run_together: aggregates waiting for one save
        self._year_checked: dict[int, float] = {}  # year → when the store was last asked about it
        self._rubrics: dict[int, Rubric] = {}
        self._remembered: dict[tuple[str, int], tuple[int | None, Any]] = {}  # see Queries.remembered
        self.views = ViewStore({**self.env_dict(), **(env or {})})
        self.scoreboard = Scoreboard(self.rubric_of_year)
        self.catchup = CatchUp(self, self.views, [self.scoreboard, AuditLog(), DisputeQueue(self.rubric_of_year)])

    @classmethod
    def from_url(cls, url: str | None = None, **extra: str) -> KaoheApp:
        env = library_env(url or database_url())
        if env["PERSISTENCE_MODULE"].endswith("sqlite"):
            # SQLite is the one-process deployment: the cache need not re-read the store
            # before each command (a stale aggregate would still fail to save, be evicted
            # and retried). Several processes share PostgreSQL, so there it fast-forwards.
            env["AGGREGATE_CACHE_FASTFORWARD"] = "n"
        return cls(env={**env, **extra})

    def env_dict(self) -> dict[str, str]:
        keys = ("PERSISTENCE_MODULE", "SQLITE_DBNAME", "POSTGRES_DBNAME", "POSTGRES_HOST", "POSTGRES_PORT",
                "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_SCHEMA")
        return {k: self.env.get(k) or "" for k in keys}

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def close(self) -> None:
        try:
            self.views.close()
        finally:
            super().close()

    def verify(self, year: int | None = None) -> dict[str, Any]:
        """Walk every stored hash chain (of one year, or all); see api.history.verify."""
        if year is not None:
            self._year(year)  # 404 for a year never opened
        return history.verify(self, year)

    def replay(self, year: int) -> dict[str, Any]:
        """Rebuild every projection from the store; return the final ranking and the history's digest."""
        self.views.drop_all()
        self.catchup.forget()
        self._remembered.clear()
        self.catch_up()
        ranking = self.scores(Actor("replay", "admin"), year)
        # A second, independent reading of the same rows: the fast path must agree to the last decimal.
        fast = {district: score.total for district, score in history.fast_scores(self, year).items()}
        agrees = fast == {row["district"]: row["total"] for row in ranking["districts"]}
        return {**ranking, "digest": history.store_digest(self, year), "fast_path_agrees": agrees}

    # --- rubric of a year ------------------------------------------------------

    def rubric_of_year(self, year: int) -> Rubric:
        """The rubric a year pinned when it opened; refuses one whose content has changed since."""
        rubric = self._rubrics.get(year)
        if rubric is None:
            y = self._year(year)
            rubric = load_rubric(y.rubric)
            if rubric.content_hash != y.rubric_hash:
                raise Conflict(
                    f"{year} 年度锁定的考核细则 {y.rubric} 已被修改 (rubric content hash changed since the year opened)"
                )
            self._rubrics[year] = rubric
        return rubric

    def _get(self, aggregate_id: UUID) -> Any:
        """Get an aggregate, noting it as touched by the running command (see `_write`)."""
        aggregate = self.repository.get(aggregate_id)
        touched = getattr(self._command, "touched", None)
        if touched is not None:
            touched.append(aggregate)
        return aggregate

    def _year(self, year: int) -> AssessmentYear:
        try:
            return self._get(year_id(year))
        except AggregateNotFoundError:
            raise NotFound(f"没有 {year} 年度的考核 (year {year} is not open)") from None

    def _open_year(self, year: int) -> AssessmentYear:
        y = self._year(year)
        if not self.repository.fastforward and self._year_may_have_moved(y):
            # Another process closed (or otherwise moved) the year since it was cached here.
            self._evict([y])
            y = self._year(year)
        y.check_open()
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

    def _ledger(self, year: int, district: str) -> DistrictLedger:
        return self._get(ledger_id(year, district))

    # --- the write path --------------------------------------------------------

    def _write(self, actor: Actor, command: str, args: dict[str, Any], build: Callable[[], tuple[list, dict]],
               idempotency_key: str | None = None) -> dict[str, Any]:
        """Run `build` (→ aggregates to save, response) and save atomically; retry on conflict.

        Every aggregate the command got is evicted from the cache if anything goes wrong, so a
        half-run command can never leave a changed aggregate behind. Inside `run_together`
        the save is left to the batch.
        """
        require_writer(actor)
        for field, value in args.items():
            check_input(value, field)
        fingerprint = hashlib.sha256(canonical_json({"command": command, "args": args})).hexdigest()
        with self._write_lock:
            for attempt in range(MAX_ATTEMPTS):
                if idempotency_key:
                    earlier = self._earlier_response(actor, idempotency_key, fingerprint)
                    if earlier is not None:
                        return earlier
                self._command.touched = touched = []
                try:
                    aggregates, response = build()
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
                    self._evict(touched)
                    time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                    continue
                except BaseException:
                    self._evict(touched)
                    raise
                finally:
                    self._command.touched = None
                return response
        raise Conflict("并发写入冲突，请重试 (concurrent writes kept conflicting; try again)")

    def run_together(self, commands: list[Callable[[], dict[str, Any]]]) -> list[dict[str, Any] | BaseException]:
        """Run several commands and save all they changed in one transaction (group commit).

        One transaction means one fsync for many commands. If any command is refused or the
        save conflicts, nothing of the batch was stored: every command then runs again on its
        own, with its own retries, and the refused one is refused again.
        """
        results: list[dict[str, Any] | BaseException] = []
        with self._write_lock:
            self._batch = batch = []
            try:
                for command in commands:
                    results.append(command())
                self.save(*batch)
                return results
            except Exception:
                self._evict(batch)  # nothing of the batch was stored: each command runs again alone
            except BaseException:
                self._evict(batch)
                raise
            finally:
                self._batch = None
        alone: list[dict[str, Any] | BaseException] = []
        for command in commands:
            try:
                alone.append(command())
            except Exception as e:  # noqa: BLE001 - handed back to that command's caller
                alone.append(e)
        return alone

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

    # --- years -------------------------------------------------------------------

    def open_year(self, actor: Actor, *, year: int, rubric: str, districts: list[str],
                  idempotency_key: str | None = None) -> dict[str, Any]:
        require_role(actor, "admin")

        def build() -> tuple[list, dict]:
            try:
                r = load_rubric(rubric)
            except RubricError as e:
                raise InvalidInput(str(e), field="rubric") from None
            if year_id(year) in self.repository:
                raise Conflict(f"{year} 年度已经开启 (year {year} is already open)")
            y = AssessmentYear.open(year=year, rubric=r.id, rubric_hash=r.content_hash,
                                    districts=districts, actor=actor.as_event())
            ledgers = [DistrictLedger.open(year=year, district=d, rubric=r.id, rubric_hash=r.content_hash,
                                           actor=actor.as_event()) for d in y.districts]
            return [y, *ledgers], {"year": year, "rubric": r.id, "rubric_hash": r.content_hash,
                                   "districts": y.districts, "receipt": y.receipt}

        return self._write(actor, "open_year", {"year": year, "rubric": rubric, "districts": districts},
                           build, idempotency_key)

    def close_year(self, actor: Actor, *, year: int, force: bool = False, note: str | None = None,
                   idempotency_key: str | None = None) -> dict[str, Any]:
        require_role(actor, "admin")

        def build() -> tuple[list, dict]:
            y = self._open_year(year)
            unsigned = self.unsigned_pairs(year)
            if unsigned and not force:
                raise Conflict(
                    f"还有 {len(unsigned)} 项指标未核定，不能结束考核 (unsigned indicators remain; pass force to close anyway)",
                    details={"unsigned": unsigned},
                )
            y.close(forced=bool(force), unsigned=unsigned, note=note, actor=actor.as_event())
            ledgers = [self._ledger(year, d) for d in y.districts]
            for ledger in ledgers:
                ledger.close(actor=actor.as_event(), note=note)
            return [y, *ledgers], {"year": year, "closed": True, "forced": bool(force), "unsigned": unsigned,
                                   "receipt": y.receipt}

        response = self._write(actor, "close_year", {"year": year, "force": bool(force), "note": note},
                               build, idempotency_key)
        self.catch_up()
        return {**response, "digest": self.digest(year)}  # a copy: the response may be an idempotency record's

    # --- findings ----------------------------------------------------------------

    def record_finding(self, actor: Actor, *, year: int, district: str, clause: str,
                       occurred_on: str | None = None, measures: dict | None = None,
                       evidence: list | None = None, note: str | None = None, reference: str | None = None,
                       idempotency_key: str | None = None) -> dict[str, Any]:
        require_role(actor, "office", "department", "admin")
        args = {"year": year, "district": district, "clause": clause, "occurred_on": occurred_on,
                "measures": {k: str(v) for k, v in (measures or {}).items()} if isinstance(measures, dict) else measures,
                "evidence": evidence, "note": note, "reference": reference}

        def build() -> tuple[list, dict]:
            y = self._open_year(year)
            rubric = self.rubric_of_year(year)
            self._check_district(y, district)
            if not rubric.has_clause(clause):
                raise InvalidInput(f"考核细则中没有条款 {clause!r} (unknown clause)", field="clause")
            cl = rubric.clause(clause)
            indicator = rubric.indicator(cl.indicator_id)
            require_responsible(actor, indicator, "记录扣分")
            checked = check_measures(cl, measures)
            day = self._business_date(year, occurred_on, "occurred_on", required=cl.kind == "occurrence")
            ledger = self._ledger(year, district)
            finding_id = str(uuid4())
            ledger.record_finding(
                finding_id=finding_id, clause=cl.id, indicator=indicator.id, actor=actor.as_event(),
                occurred_on=day, measures={k: str(v) for k, v in checked.items()},
                evidence=_strings(evidence, "evidence"), note=note, reference=reference,
            )
            return [ledger], {"id": finding_id, "district": district, "clause": cl.id, "indicator": indicator.id,
                              "receipt": ledger.receipt}

        return self._write(actor, "record_finding", args, build, idempotency_key)

    def retract_finding(self, actor: Actor, *, year: int, finding_id: str, reason: str,
                        evidence: list | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        require_role(actor, "office", "department", "admin")

        def build() -> tuple[list, dict]:
            self._open_year(year)
            district = self.district_of_finding(year, finding_id)
            ledger = self._ledger(year, district)
            finding = ledger.finding(finding_id)
            recorder = finding["by"]
            same_unit = (recorder.get("role") == actor.role and
                         recorder.get("department") == actor.as_event().get("department"))
            if actor.role != "admin" and not same_unit:
                raise Forbidden("只有记录该发现的部门或管理员可以撤销 (only the recording role or admin may retract)")
            ledger.retract_finding(finding_id=finding_id, reason=reason, actor=actor.as_event(),
                                   evidence=_strings(evidence, "evidence"))
            return [ledger], {"id": finding_id, "retracted": True, "receipt": ledger.receipt}

        return self._write(actor, "retract_finding",
                           {"year": year, "finding": finding_id, "reason": reason, "evidence": evidence},
                           build, idempotency_key)

    # --- the office's workflows (8.2, 8.5) ----------------------------------------

    def hold_meeting(self, actor: Actor, *, year: int, title: str, held_on: str, absent: list[str],
                     excused: list[str] | None = None, note: str | None = None, evidence: list | None = None,
                     idempotency_key: str | None = None) -> dict[str, Any]:
        require_role(actor, "office", "admin")
        excused = list(excused or [])
        args = {"year": year, "title": title, "held_on": held_on, "absent": absent, "excused": excused, "note": note,
                "evidence": evidence}

        def build() -> tuple[list, dict]:
            y = self._open_year(year)
            day = self._business_date(year, held_on, "held_on", required=True)
            for field, names in (("absent", absent), ("excused", excused)):
                for d in _strings(names, field):
                    self._check_district(y, d, field)
            proof = _strings(evidence, "evidence")
            meeting = Meeting.hold(year=year, title=title, held_on=day, absent=absent, excused=excused,
                                   actor=actor.as_event(), note=note, evidence=proof)
            source = {"kind": "meeting", "id": str(meeting.id), "title": meeting.title}
            ledgers, findings = [], []
            for d in absent:
                ledger = self._ledger(year, d)
                finding_id = str(uuid4())
                ledger.record_finding(finding_id=finding_id, clause=MEETING_CLAUSE, indicator="8.2",
                                      actor=actor.as_event(), occurred_on=day, source=source, evidence=proof,
                                      note=f"未参加：{meeting.title}")
                ledgers.append(ledger)
                findings.append({"id": finding_id, "district": d, "clause": MEETING_CLAUSE, "receipt": ledger.receipt})
            for d in excused:
                ledger = self._ledger(year, d)
                ledger.note_activity(activity="excused_absence", actor=actor.as_event(), occurred_on=day,
                                     source=source, evidence=proof, note=f"请假：{meeting.title}")
                ledgers.append(ledger)
            return [meeting, *ledgers], {"id": str(meeting.id), "findings": findings}

        return self._write(actor, "hold_meeting", args, build, idempotency_key)

    def schedule_report(self, actor: Actor, *, year: int, title: str, due_on: str, note: str | None = None,
                        idempotency_key: str | None = None) -> dict[str, Any]:
        require_role(actor, "office", "admin")

        def build() -> tuple[list, dict]:
            self._open_year(year)
            day = self._business_date(year, due_on, "due_on", required=True)
            report = Report.schedule(year=year, title=title, due_on=day, actor=actor.as_event(), note=note)
            return [report], {"id": str(report.id), "title": report.title, "due_on": day}

        return self._write(actor, "schedule_report", {"year": year, "title": title, "due_on": due_on, "note": note},
                           build, idempotency_key)

    def record_submission(self, actor: Actor, *, year: int, report_id: str, district: str, submitted_on: str,
                          evidence: list | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        require_role(actor, "office", "admin")

        def build() -> tuple[list, dict]:
            y = self._open_year(year)
            self._check_district(y, district)
            day = self._business_date(year, submitted_on, "submitted_on", required=True)
            report = self._workflow(Report, year, report_id, "报送事项 (report)")
            proof = _strings(evidence, "evidence")
            report.record_submission(district=district, submitted_on=day, actor=actor.as_event(), evidence=proof)
            ledger = self._ledger(year, district)
            on_time = day <= report.due_on
            ledger.note_activity(activity="report_submitted" if on_time else "report_submitted_late",
                                 actor=actor.as_event(), occurred_on=day, evidence=proof,
                                 source={"kind": "report", "id": report_id, "title": report.title,
                                         "due_on": report.due_on})
            return [report, ledger], {"report": report_id, "district": district, "submitted_on": day,
                                      "on_time": on_time, "receipt": ledger.receipt}

        return self._write(actor, "record_submission",
                           {"year": year, "report": report_id, "district": district, "submitted_on": submitted_on,
                            "evidence": evidence},
                           build, idempotency_key)

    def close_report(self, actor: Actor, *, year: int, report_id: str,
                     idempotency_key: str | None = None) -> dict[str, Any]:
        require_role(actor, "office", "admin")

        def build() -> tuple[list, dict]:
            y = self._open_year(year)
            report = self._workflow(Report, year, report_id, "报送事项 (report)")
            late, missing = report.close(districts=y.districts, actor=actor.as_event())
            source = {"kind": "report", "id": report_id, "title": report.title, "due_on": report.due_on}
            ledgers, findings = [], []
            for d in y.districts:
                if d not in late and d not in missing:
                    continue
                ledger = self._ledger(year, d)
                finding_id = str(uuid4())
                what = "逾期报送" if d in late else "未报送"
                ledger.record_finding(finding_id=finding_id, clause=REPORT_CLAUSE, indicator="8.2",
                                      actor=actor.as_event(), occurred_on=report.due_on, source=source,
                                      note=f"{what}：{report.title}")
                ledgers.append(ledger)
                findings.append({"id": finding_id, "district": d, "clause": REPORT_CLAUSE,
                                 "reason": "late" if d in late else "missing", "receipt": ledger.receipt})
            return [report, *ledgers], {"id": report_id, "late": late, "missing": missing, "findings": findings}

        return self._write(actor, "close_report", {"year": year, "report": report_id}, build, idempotency_key)

    def assign_task(self, actor: Actor, *, year: int, title: str, assigned_on: str, due_on: str,
                    districts: list[str], note: str | None = None,
                    idempotency_key: str | None = None) -> dict[str, Any]:
        require_role(actor, "office", "admin")
        args = {"year": year, "title": title, "assigned_on": assigned_on, "due_on": due_on,
                "districts": districts, "note": note}

        def build() -> tuple[list, dict]:
            y = self._open_year(year)
            start = self._business_date(year, assigned_on, "assigned_on", required=True)
            due = self._business_date(year, due_on, "due_on", required=True)
            for d in _strings(districts, "districts"):
                self._check_district(y, d, "districts")
            task = Task.assign(year=year, title=title, assigned_on=start, due_on=due, districts=districts,
                               actor=actor.as_event(), note=note)
            return [task], {"id": str(task.id), "title": task.title, "districts": task.districts}

        return self._write(actor, "assign_task", args, build, idempotency_key)

    def record_task_outcome(self, actor: Actor, *, year: int, task_id: str, district: str, outcome: str,
                            note: str | None = None, evidence: list | None = None,
                            idempotency_key: str | None = None) -> dict[str, Any]:
        require_role(actor, "office", "admin")

        def build() -> tuple[list, dict]:
            y = self._open_year(year)
            self._check_district(y, district)
            task = self._workflow(Task, year, task_id, "临时交办任务 (task)")
            proof = _strings(evidence, "evidence")
            task.record_outcome(district=district, outcome=outcome, actor=actor.as_event(), note=note, evidence=proof)
            ledger = self._ledger(year, district)
            source = {"kind": "task", "id": task_id, "title": task.title}
            response: dict[str, Any] = {"task": task_id, "district": district, "outcome": outcome}
            if outcome == "unfinished":
                finding_id = str(uuid4())
                ledger.record_finding(finding_id=finding_id, clause=TASK_CLAUSE, indicator="8.5",
                                      actor=actor.as_event(), occurred_on=task.due_on, source=source, evidence=proof,
                                      note=note or f"未完成：{task.title}")
                response["finding"] = {"id": finding_id, "clause": TASK_CLAUSE}
            else:
                ledger.note_activity(activity="task_completed", actor=actor.as_event(), occurred_on=task.due_on,
                                     source=source, note=note, evidence=proof)
            response["receipt"] = ledger.receipt
            return [task, ledger], response

        return self._write(actor, "record_task_outcome",
                           {"year": year, "task": task_id, "district": district, "outcome": outcome, "note": note,
                            "evidence": evidence},
                           build, idempotency_key)

    # --- disputes and sign-off -----------------------------------------------------

    def file_dispute(self, actor: Actor, *, year: int, finding_id: str, statement: str,
                     evidence: list | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        require_role(actor, "district")

        def build() -> tuple[list, dict]:
            self._open_year(year)
            district = self.district_of_finding(year, finding_id)
            if district != actor.district:
                raise Forbidden("只能对本单位的扣分提出申诉 (a district disputes only its own findings)")
            ledger = self._ledger(year, district)
            dispute_id = str(uuid4())
            ledger.file_dispute(dispute_id=dispute_id, finding_id=finding_id, statement=statement,
                                evidence=_strings(evidence, "evidence"), actor=actor.as_event())
            return [ledger], {"id": dispute_id, "finding": finding_id, "district": district, "status": "open",
                              "receipt": ledger.receipt}

        return self._write(actor, "file_dispute",
                           {"year": year, "finding": finding_id, "statement": statement, "evidence": evidence},
                           build, idempotency_key)

    def resolve_dispute(self, actor: Actor, *, year: int, dispute_id: str, decision: str, reason: str,
                        evidence: list | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        require_role(actor, "office", "department", "admin")

        def build() -> tuple[list, dict]:
            self._open_year(year)
            district, indicator = self.dispute_location(year, dispute_id)
            require_responsible(actor, self.rubric_of_year(year).indicator(indicator), "处理申诉")
            ledger = self._ledger(year, district)
            ledger.resolve_dispute(dispute_id=dispute_id, decision=decision, reason=reason, actor=actor.as_event(),
                                   evidence=_strings(evidence, "evidence"))
            return [ledger], {"id": dispute_id, "district": district, "status": decision, "receipt": ledger.receipt}

        return self._write(actor, "resolve_dispute",
                           {"year": year, "dispute": dispute_id, "decision": decision, "reason": reason,
                            "evidence": evidence},
                           build, idempotency_key)

    def sign_off(self, actor: Actor, *, year: int, district: str, indicator: str, note: str | None = None,
                 evidence: list | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        require_role(actor, "office", "department", "admin")

        def build() -> tuple[list, dict]:
            y = self._open_year(year)
            self._check_district(y, district)
            rubric = self.rubric_of_year(year)
            try:
                ind = rubric.indicator(indicator)
            except KeyError:
                raise InvalidInput(f"考核细则中没有指标 {indicator!r} (unknown indicator)", field="indicator") from None
            require_responsible(actor, ind, "核定")
            ledger = self._ledger(year, district)
            ledger.sign_off(indicator=ind.id, actor=actor.as_event(), note=note, evidence=_strings(evidence, "evidence"))
            return [ledger], {"district": district, "indicator": ind.id, "signed_off": True,
                              "receipt": ledger.receipt}

        return self._write(actor, "sign_off", {"year": year, "district": district, "indicator": indicator,
                                               "note": note, "evidence": evidence}, build, idempotency_key)

    # --- helpers -------------------------------------------------------------------

    def _check_district(self, y: AssessmentYear, district: str, field: str = "district") -> None:
        if district not in y.district_set:
            raise InvalidInput(f"{y.year} 年度没有被考核单位 {district!r} (unknown district)", field=field)

    def _workflow(self, cls: type, year: int, aggregate_id: str, what: str) -> Any:
        try:
            aggregate = self._get(UUID(str(aggregate_id)))
        except (AggregateNotFoundError, ValueError):
            raise NotFound(f"没有这个{what}: {aggregate_id}") from None
        if not isinstance(aggregate, cls) or aggregate.year != year:
            raise NotFound(f"{year} 年度没有这个{what}: {aggregate_id}")
        return aggregate

    @staticmethod
    def _business_date(year: int, value: str | None, field: str, *, required: bool) -> str | None:
        """An Asia/Shanghai calendar date inside the assessment year, as ISO text."""
        if value in (None, ""):
            if required:
                raise InvalidInput(f"{field} 必填，格式 YYYY-MM-DD ({field} is required)", field=field)
            return None
        try:
            day = date.fromisoformat(str(value))
        except ValueError:
            raise InvalidInput(f"{field} 日期格式错误，应为 YYYY-MM-DD (malformed date: {value!r})", field=field) from None
        if day.year != year:
            raise InvalidInput(f"{field} 不在 {year} 年度内 (date outside the year: {value})", field=field)
        return day.isoformat()



def _strings(values: Any, field: str) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidInput(f"{field} 必须是字符串列表 (must be a list of strings)", field=field)
    return values
