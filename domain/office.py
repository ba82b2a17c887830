"""The office's three workflows on 8.2 and 8.5: meetings (会议), reports (报送材料), temporary tasks (临时交办任务).

Each is its own aggregate; the findings they cause are recorded in the district ledgers
and saved in the same transaction as the workflow event (see the application service).
"""

from __future__ import annotations

from uuid import uuid4

from domain.chained import ChainedAggregate
from domain.errors import Conflict, InvalidInput

MEETING_CLAUSE = "8.2.b"  # 按要求派员参加市总各项活动和会议，每少一次扣0.5分
REPORT_CLAUSE = "8.2.a"  # 按时报送半年、全年工作总结及相关督察材料，每少一次扣0.5分
TASK_CLAUSE = "8.5.a"  # 未能完成上级工会临时交办任务每次扣1分


def _title(title: str | None) -> str:
    if not title or not str(title).strip():
        raise InvalidInput("title 不能为空 (title is required)", field="title")
    return str(title).strip()


class Meeting(ChainedAggregate):
    class Held(ChainedAggregate.Started):
        year: int
        title: str
        held_on: str
        absent: list
        excused: list
        note: str | None
        evidence: list  # e.g. the sign-in sheet (会议签到), 8.2's 证明材料

        def evolve(self, m: Meeting) -> None:
            m.year, m.title, m.held_on = self.year, self.title, self.held_on
            m.absent, m.excused = list(self.absent), list(self.excused)
            m.voided = False

    class Voided(ChainedAggregate.Event):
        """Entered by mistake (作废): saved with the retraction of every finding the meeting caused."""

        reason: str
        retracted: list  # the finding ids retracted with it

        def evolve(self, m: Meeting) -> None:
            m.voided = True

    @classmethod
    def hold(cls, *, year: int, title: str, held_on: str, absent: list[str], excused: list[str], actor: dict,
             note: str | None = None, evidence: list[str] | None = None) -> Meeting:
        overlap = set(absent) & set(excused)
        if overlap:
            raise InvalidInput(f"同一单位不能既缺席又请假: {', '.join(sorted(overlap))}", field="excused")
        if len(set(absent)) != len(absent) or len(set(excused)) != len(excused):
            raise InvalidInput("缺席或请假名单有重复 (duplicate district)", field="absent")
        return cls._start(
            cls.Held, uuid4(), year=year, title=_title(title), held_on=held_on,
            absent=list(absent), excused=list(excused), note=note, evidence=list(evidence or []), actor=actor,
        )


    def void(self, *, reason: str, retracted: list[str], actor: dict) -> None:
        if self.voided:
            raise Conflict(f"会议「{self.title}」（{self.held_on}）已作废 (meeting already voided)")
        if not reason or not str(reason).strip():
            raise InvalidInput("reason 不能为空 (reason is required)", field="reason")
        self._append(self.Voided, reason=str(reason).strip(), retracted=list(retracted), actor=actor)


def is_late(submitted_on: str, due_on: str) -> bool:
    """The one rule for "late", for a report aggregate and for a register row folded from its events."""
    return submitted_on > due_on


class Report(ChainedAggregate):
    class Scheduled(ChainedAggregate.Started):
        year: int
        title: str
        due_on: str
        note: str | None

        def evolve(self, r: Report) -> None:
            r.year, r.title, r.due_on = self.year, self.title, self.due_on
            r.submissions = {}
            r.closed = False

    class SubmissionRecorded(ChainedAggregate.Event):
        district: str
        submitted_on: str
        evidence: list  # what was submitted (报送材料)

        def evolve(self, r: Report) -> None:
            r.submissions[self.district] = self.submitted_on

    class Closed(ChainedAggregate.Event):
        late: list
        missing: list

        def evolve(self, r: Report) -> None:
            r.closed = True

    @classmethod
    def schedule(cls, *, year: int, title: str, due_on: str, actor: dict, note: str | None = None) -> Report:
        return cls._start(cls.Scheduled, uuid4(), year=year, title=_title(title), due_on=due_on, note=note, actor=actor)

    def record_submission(self, *, district: str, submitted_on: str, actor: dict,
                          evidence: list[str] | None = None) -> None:
        self._check_not_closed()
        if district in self.submissions:
            raise Conflict(f"{district} 已于 {self.submissions[district]} 报送 (already submitted)")
        self._append(self.SubmissionRecorded, district=district, submitted_on=submitted_on,
                     evidence=list(evidence or []), actor=actor)

    def is_late(self, submitted_on: str) -> bool:
        """PRODUCT.md: a report is late when submitted after its due date (ISO dates compare as text)."""
        return is_late(submitted_on, self.due_on)

    def is_missing(self, district: str) -> bool:
        """Missing: not submitted at all."""
        return district not in self.submissions

    def late_and_missing(self, districts: list[str]) -> tuple[list[str], list[str]]:
        late = [d for d in districts if not self.is_missing(d) and self.is_late(self.submissions[d])]
        missing = [d for d in districts if self.is_missing(d)]
        return late, missing

    def close(self, *, districts: list[str], actor: dict) -> tuple[list[str], list[str]]:
        self._check_not_closed()
        late, missing = self.late_and_missing(districts)
        self._append(self.Closed, late=late, missing=missing, actor=actor)
        return late, missing

    def _check_not_closed(self) -> None:
        if self.closed:
            raise Conflict(f"报送事项「{self.title}」已关闭 (report is closed)")


class Task(ChainedAggregate):
    class Assigned(ChainedAggregate.Started):
        year: int
        title: str
        assigned_on: str
        due_on: str
        districts: list
        note: str | None

        def evolve(self, t: Task) -> None:
            t.year, t.title, t.assigned_on, t.due_on = self.year, self.title, self.assigned_on, self.due_on
            t.districts = list(self.districts)
            t.outcomes = {}

    class OutcomeRecorded(ChainedAggregate.Event):
        district: str
        outcome: str  # completed | unfinished
        note: str | None
        evidence: list  # 相关记录

        def evolve(self, t: Task) -> None:
            t.outcomes[self.district] = self.outcome

    @classmethod
    def assign(cls, *, year: int, title: str, assigned_on: str, due_on: str, districts: list[str], actor: dict, note: str | None = None) -> Task:
        if due_on < assigned_on:
            raise InvalidInput("due_on 不能早于 assigned_on (due before assigned)", field="due_on")
        if not districts or len(set(districts)) != len(districts):
            raise InvalidInput("districts 不能为空或重复 (at least one district, no duplicates)", field="districts")
        return cls._start(
            cls.Assigned, uuid4(), year=year, title=_title(title), assigned_on=assigned_on, due_on=due_on,
            districts=list(districts), note=note, actor=actor,
        )

    def record_outcome(self, *, district: str, outcome: str, actor: dict, note: str | None = None,
                       evidence: list[str] | None = None) -> None:
        if district not in self.districts:
            raise InvalidInput(f"任务「{self.title}」没有交办给 {district} (task not assigned to district)", field="district")
        if outcome not in ("completed", "unfinished"):
            raise InvalidInput("outcome 必须是 completed（完成）或 unfinished（未完成）", field="outcome")
        if district in self.outcomes:
            raise Conflict(f"{district} 的任务结果已记录为 {self.outcomes[district]} (outcome already recorded)")
        self._append(self.OutcomeRecorded, district=district, outcome=outcome, note=note,
                     evidence=list(evidence or []), actor=actor)
