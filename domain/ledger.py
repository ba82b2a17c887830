"""The district ledger (考核台账): one aggregate per district per assessment year.

It holds only what its invariants need: its history as `domain.lifecycle` reads it (which
findings exist and whether they are live, open disputes, sign-offs). Scores are never
stored here; the engine computes them from the events.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from domain.chained import ChainedAggregate, named_id
from domain.errors import Conflict, InvalidInput
from domain.lifecycle import DisputeStatus, DistrictHistory

ID_PREFIX = 8  # hex digits of the ledger id that start every finding and dispute id of that ledger


def ledger_id(year: int, district: str) -> UUID:
    return named_id("ledger", year, district)


def ledger_prefix(year: int, district: str) -> str:
    return ledger_id(year, district).hex[:ID_PREFIX]


def new_item_id(year: int, district: str) -> str:
    """A fresh finding or dispute id that names its ledger: its first hex digits are the ledger id's.

    So a command given only the id (retract, dispute, resolve) finds the ledger without the views.
    """
    return str(UUID(ledger_prefix(year, district) + uuid4().hex[ID_PREFIX:]))


class DistrictLedger(ChainedAggregate):
    class Event(ChainedAggregate.Event):
        def evolve(self, ledger: DistrictLedger) -> None:
            # The one reading of a ledger's events (domain.lifecycle), here as everywhere else.
            ledger.history.apply(type(self).__name__, vars(self), recorded_at(self), self.originator_version)

    class Opened(ChainedAggregate.Started):
        year: int
        district: str
        rubric: str
        rubric_hash: str

        def evolve(self, ledger: DistrictLedger) -> None:
            ledger.year = self.year
            ledger.district = self.district
            ledger.rubric = self.rubric
            ledger.history = DistrictHistory()
            ledger.closed = False

    class FindingRecorded(Event):
        # v2 added `reference` and `source` (which office workflow caused the finding).
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state.setdefault("reference", None)
            state.setdefault("source", None)

        finding_id: str
        clause: str
        indicator: str
        occurred_on: str | None  # ISO date of the business fact (meeting, due date)
        measures: dict  # key → decimal as text
        evidence: list
        note: str | None
        reference: str | None
        source: dict | None  # the office workflow it came from (meeting, report, task)


    class FindingRetracted(Event):
        finding_id: str
        reason: str
        evidence: list


    class ActivityNoted(Event):
        """History that deducts nothing: an excused absence, a report on time, a task done."""

        activity: str
        occurred_on: str | None
        source: dict | None
        note: str | None
        evidence: list

    class DisputeFiled(Event):
        dispute_id: str
        finding_id: str
        clause: str
        indicator: str
        statement: str
        evidence: list


    class DisputeResolved(Event):
        dispute_id: str
        finding_id: str
        decision: str  # upheld | overturned
        reason: str
        evidence: list


    class Closed(Event):
        """The year closed: written to every ledger in the close's transaction, so a write racing
        the close (from another process) conflicts on the ledger's version and is refused."""

        note: str | None

        def evolve(self, ledger: DistrictLedger) -> None:
            super().evolve(ledger)
            ledger.closed = True

    class IndicatorSignedOff(Event):
        indicator: str
        note: str | None
        evidence: list

    class EvidenceUploaded(Event):
        """A 证明材料 file was uploaded for the district; its bytes are stored apart, by this sha256."""

        sha256: str
        size: int
        media_type: str
        filename: str

    class MaterialsSubmitted(Event):
        """The district's 申报 for an indicator: its account (自评说明) and its 证明材料."""

        submission_id: str
        indicator: str
        statement: str
        evidence: list

    class SubmissionReturned(Event):
        """The responsible department sent a 申报 back for more material, saying why."""

        submission_id: str
        indicator: str
        reason: str
        evidence: list


    # --- commands -------------------------------------------------------------

    @classmethod
    def open(cls, *, year: int, district: str, rubric: str, rubric_hash: str, actor: dict) -> DistrictLedger:
        return cls._start(cls.Opened, ledger_id(year, district), year=year, district=district, rubric=rubric,
                          rubric_hash=rubric_hash, actor=actor)

    def close(self, *, actor: dict, note: str | None = None) -> None:
        self.check_open()
        self._append(self.Closed, note=note, actor=actor)

    def check_open(self) -> None:
        if getattr(self, "closed", False):
            raise Conflict(f"{self.year} 年度已结束考核，不能再写入 (year {self.year} is closed; it is read-only)")

    def record_finding(self, *, finding_id: str, clause: str, indicator: str, actor: dict,
                       occurred_on: str | None = None, measures: dict | None = None, evidence: list | None = None,
                       note: str | None = None, reference: str | None = None, source: dict | None = None) -> None:
        self.check_open()
        if finding_id in self.history.findings:
            raise Conflict(f"finding {finding_id} already recorded")
        self._append(self.FindingRecorded, finding_id=finding_id, clause=clause, indicator=indicator,
                     occurred_on=occurred_on, measures=measures or {}, evidence=self._evidence(evidence), note=note,
                     reference=reference, source=source, actor=actor)

    def retract_finding(self, *, finding_id: str, reason: str, actor: dict, evidence: list | None = None) -> None:
        self.check_open()
        self.history.check_retractable(finding_id)
        self._append(self.FindingRetracted, finding_id=finding_id, reason=_required(reason, "reason"),
                     evidence=self._evidence(evidence), actor=actor)

    def note_activity(self, *, activity: str, actor: dict, occurred_on: str | None = None,
                      source: dict | None = None, note: str | None = None, evidence: list | None = None) -> None:
        self.check_open()
        self._append(self.ActivityNoted, activity=activity, occurred_on=occurred_on, source=source, note=note,
                     evidence=self._evidence(evidence), actor=actor)

    def file_dispute(self, *, dispute_id: str, finding_id: str, statement: str, evidence: list, actor: dict) -> None:
        self.check_open()
        finding = self.history.check_disputable(finding_id)
        self._append(self.DisputeFiled, dispute_id=dispute_id, finding_id=finding_id, clause=finding.clause,
                     indicator=finding.indicator, statement=_required(statement, "statement"),
                     evidence=self._evidence(evidence), actor=actor)

    def resolve_dispute(self, *, dispute_id: str, decision: str, reason: str, actor: dict,
                        evidence: list | None = None) -> None:
        self.check_open()
        dispute = self.history.check_resolvable(dispute_id)
        if decision not in (DisputeStatus.UPHELD, DisputeStatus.OVERTURNED):
            raise InvalidInput("decision 必须是 upheld（维持）或 overturned（撤销扣分）", field="decision")
        self._append(self.DisputeResolved, dispute_id=dispute_id, finding_id=dispute.finding, decision=decision,
                     reason=_required(reason, "reason"), evidence=self._evidence(evidence), actor=actor)

    def sign_off(self, *, indicator: str, actor: dict, note: str | None = None, evidence: list | None = None) -> None:
        self.check_open()
        if indicator in self.history.signed:
            return  # signing off twice changes nothing; the first sign-off stands
        self._append(self.IndicatorSignedOff, indicator=indicator, note=note, evidence=self._evidence(evidence),
                     actor=actor)

    def upload_evidence(self, *, sha256: str, size: int, media_type: str, filename: str, actor: dict) -> bool:
        """Note an uploaded file on the ledger; False (nothing recorded) when this district already has it."""
        self.check_open()
        if sha256 in self.history.files:
            return False
        self._append(self.EvidenceUploaded, sha256=sha256, size=size, media_type=media_type, filename=filename,
                     actor=actor)
        return True

    def submit_materials(self, *, submission_id: str, indicator: str, statement: str, evidence: list | None,
                         actor: dict) -> None:
        self.check_open()
        self.history.check_submittable(indicator)
        self._append(self.MaterialsSubmitted, submission_id=submission_id, indicator=indicator,
                     statement=_required(statement, "statement"), evidence=self._evidence(evidence), actor=actor)

    def return_submission(self, *, submission_id: str, reason: str, actor: dict, evidence: list | None = None) -> None:
        self.check_open()
        submission = self.history.check_returnable(submission_id)
        self._append(self.SubmissionReturned, submission_id=submission_id, indicator=submission.indicator,
                     reason=_required(reason, "reason"), evidence=self._evidence(evidence), actor=actor)

    def _evidence(self, evidence: list | None) -> list:
        """Evidence as recorded: `sha256:` entries must name this district's uploads (domain.lifecycle)."""
        return self.history.check_evidence(list(evidence or []))


def recorded_at(event: Any) -> str:
    """When an event was recorded, as every reader of the history writes it (UTC ISO, microseconds)."""
    return event.timestamp.isoformat(timespec="microseconds")


def _required(text: str | None, field: str) -> str:
    if not text or not str(text).strip():
        raise InvalidInput(f"{field} 不能为空 ({field} is required)", field=field)
    return str(text).strip()
