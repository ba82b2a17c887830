"""The district ledger (考核台账): one aggregate per district per assessment year.

It holds only what its invariants need: which findings exist and whether they are live,
open disputes, sign-offs. Scores are never stored here; the engine computes them from
the events (see `domain.scoring` and `projections.scoreboard`).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.chained import ChainedAggregate, named_id
from domain.errors import Conflict, InvalidInput, NotFound


def ledger_id(year: int, district: str) -> UUID:
    return named_id("ledger", year, district)


class DistrictLedger(ChainedAggregate):
    class Opened(ChainedAggregate.Started):
        year: int
        district: str
        rubric: str
        rubric_hash: str

        def evolve(self, ledger: DistrictLedger) -> None:
            ledger.year = self.year
            ledger.district = self.district
            ledger.rubric = self.rubric
            ledger.findings = {}
            ledger.disputes = {}
            ledger.signoffs = set()
            ledger.closed = False

    class FindingRecorded(ChainedAggregate.Event):
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

        def evolve(self, ledger: DistrictLedger) -> None:
            ledger.findings[self.finding_id] = {
                "clause": self.clause,
                "indicator": self.indicator,
                "by": self.actor,
                "status": "live",
                "open_dispute": None,
            }

    class FindingRetracted(ChainedAggregate.Event):
        finding_id: str
        reason: str
        evidence: list

        def evolve(self, ledger: DistrictLedger) -> None:
            ledger.findings[self.finding_id]["status"] = "retracted"

    class ActivityNoted(ChainedAggregate.Event):
        """History that deducts nothing: an excused absence, a report on time, a task done."""

        activity: str
        occurred_on: str | None
        source: dict | None
        note: str | None
        evidence: list

    class DisputeFiled(ChainedAggregate.Event):
        dispute_id: str
        finding_id: str
        clause: str
        indicator: str
        statement: str
        evidence: list

        def evolve(self, ledger: DistrictLedger) -> None:
            ledger.disputes[self.dispute_id] = {"finding": self.finding_id, "status": "open"}
            ledger.findings[self.finding_id]["open_dispute"] = self.dispute_id

    class DisputeResolved(ChainedAggregate.Event):
        dispute_id: str
        finding_id: str
        decision: str  # upheld | overturned
        reason: str
        evidence: list

        def evolve(self, ledger: DistrictLedger) -> None:
            ledger.disputes[self.dispute_id]["status"] = self.decision
            finding = ledger.findings[self.finding_id]
            finding["open_dispute"] = None
            if self.decision == "overturned":
                finding["status"] = "overturned"

    class Closed(ChainedAggregate.Event):
        """The year closed: written to every ledger in the close's transaction, so a write racing
        the close (from another process) conflicts on the ledger's version and is refused."""

        note: str | None

        def evolve(self, ledger: DistrictLedger) -> None:
            ledger.closed = True

    class IndicatorSignedOff(ChainedAggregate.Event):
        indicator: str
        note: str | None
        evidence: list

        def evolve(self, ledger: DistrictLedger) -> None:
            ledger.signoffs.add(self.indicator)

    # --- commands -------------------------------------------------------------

    @classmethod
    def open(cls, *, year: int, district: str, rubric: str, rubric_hash: str, actor: dict) -> DistrictLedger:
        return cls._start(
            cls.Opened,
            ledger_id(year, district),
            year=year,
            district=district,
            rubric=rubric,
            rubric_hash=rubric_hash,
            actor=actor,
        )

    def close(self, *, actor: dict, note: str | None = None) -> None:
        self.check_open()
        self._append(self.Closed, note=note, actor=actor)

    def check_open(self) -> None:
        if getattr(self, "closed", False):
            raise Conflict(f"{self.year} 年度已结束考核，不能再写入 (year {self.year} is closed; it is read-only)")

    def record_finding(
        self,
        *,
        finding_id: str,
        clause: str,
        indicator: str,
        actor: dict,
        occurred_on: str | None = None,
        measures: dict | None = None,
        evidence: list | None = None,
        note: str | None = None,
        reference: str | None = None,
        source: dict | None = None,
    ) -> None:
        self.check_open()
        if finding_id in self.findings:
            raise Conflict(f"finding {finding_id} already recorded")
        self._append(
            self.FindingRecorded,
            finding_id=finding_id,
            clause=clause,
            indicator=indicator,
            occurred_on=occurred_on,
            measures=measures or {},
            evidence=list(evidence or []),
            note=note,
            reference=reference,
            source=source,
            actor=actor,
        )

    def retract_finding(self, *, finding_id: str, reason: str, actor: dict, evidence: list | None = None) -> None:
        self.check_open()
        finding = self.finding(finding_id)
        self._check_live(finding_id, finding, "撤销 (retract)")
        if finding["open_dispute"]:
            raise Conflict(f"发现 {finding_id} 有未决申诉，请先处理申诉 (finding has an open dispute)")
        self._append(self.FindingRetracted, finding_id=finding_id, reason=_required(reason, "reason"),
                     evidence=list(evidence or []), actor=actor)

    def note_activity(
        self, *, activity: str, actor: dict, occurred_on: str | None = None, source: dict | None = None,
        note: str | None = None, evidence: list | None = None,
    ) -> None:
        self.check_open()
        self._append(self.ActivityNoted, activity=activity, occurred_on=occurred_on, source=source, note=note,
                     evidence=list(evidence or []), actor=actor)

    def file_dispute(self, *, dispute_id: str, finding_id: str, statement: str, evidence: list, actor: dict) -> None:
        self.check_open()
        finding = self.finding(finding_id)
        self._check_live(finding_id, finding, "申诉 (dispute)")
        if finding["open_dispute"]:
            raise Conflict(f"发现 {finding_id} 已有未决申诉 {finding['open_dispute']} (already has an open dispute)")
        self._append(
            self.DisputeFiled,
            dispute_id=dispute_id,
            finding_id=finding_id,
            clause=finding["clause"],
            indicator=finding["indicator"],
            statement=_required(statement, "statement"),
            evidence=list(evidence or []),
            actor=actor,
        )

    def resolve_dispute(self, *, dispute_id: str, decision: str, reason: str, actor: dict,
                        evidence: list | None = None) -> None:
        self.check_open()
        dispute = self.dispute(dispute_id)
        if dispute["status"] != "open":
            raise Conflict(f"申诉 {dispute_id} 已处理（{dispute['status']}），不能再次处理 (already resolved)")
        if decision not in ("upheld", "overturned"):
            raise InvalidInput("decision 必须是 upheld（维持）或 overturned（撤销扣分）", field="decision")
        self._append(
            self.DisputeResolved,
            dispute_id=dispute_id,
            finding_id=dispute["finding"],
            decision=decision,
            reason=_required(reason, "reason"),
            evidence=list(evidence or []),
            actor=actor,
        )

    def sign_off(self, *, indicator: str, actor: dict, note: str | None = None, evidence: list | None = None) -> None:
        self.check_open()
        if indicator in self.signoffs:
            return  # signing off twice changes nothing; the first sign-off stands
        self._append(self.IndicatorSignedOff, indicator=indicator, note=note, evidence=list(evidence or []),
                     actor=actor)

    # --- queries the commands need -------------------------------------------

    def finding(self, finding_id: str) -> dict[str, Any]:
        try:
            return self.findings[finding_id]
        except KeyError:
            raise NotFound(f"{self.district} 没有发现 {finding_id} (no such finding)") from None

    def dispute(self, dispute_id: str) -> dict[str, Any]:
        try:
            return self.disputes[dispute_id]
        except KeyError:
            raise NotFound(f"没有申诉 {dispute_id} (no such dispute)") from None

    @staticmethod
    def _check_live(finding_id: str, finding: dict[str, Any], doing: str) -> None:
        if finding["status"] == "retracted":
            raise Conflict(f"发现 {finding_id} 已撤销，不能{doing} (finding was retracted)")
        if finding["status"] == "overturned":
            raise Conflict(f"发现 {finding_id} 已因申诉撤销扣分，不能{doing} (finding was overturned)")


def _required(text: str | None, field: str) -> str:
    if not text or not str(text).strip():
        raise InvalidInput(f"{field} 不能为空 ({field} is required)", field=field)
    return str(text).strip()
