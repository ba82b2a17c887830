"""A finding's life (扣分事项的生命周期): the one reading of a district ledger's history.

From the events of one `DistrictLedger`, in order, to each finding's status, its dispute
thread, the live findings per clause (the scoring engine's input) and the indicators signed
off. The aggregate, the scoreboard projection, as-of reads, the fast replay and the pages all
read a history through `DistrictHistory`; nothing else decides what a retraction or an
overturned dispute does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Iterable, Mapping

from domain.errors import Conflict, NotFound
from domain.findings import Finding, finding_from
from domain.rubric import Rubric
from domain.scoring import DistrictScore, score_grouped

# What a page shows of a finding beyond the engine's facts.
DETAIL_FIELDS = ("occurred_on", "measures", "evidence", "note", "reference", "source")


class FindingStatus(str, Enum):
    LIVE = "live"  # counts
    RETRACTED = "retracted"  # taken back by whoever recorded it
    OVERTURNED = "overturned"  # a dispute was decided for the district

    @property
    def label(self) -> str:
        return {"live": "有效", "retracted": "已撤销", "overturned": "申诉后撤销"}[self.value]


class DisputeStatus(str, Enum):
    OPEN = "open"
    UPHELD = "upheld"  # the deduction stands
    OVERTURNED = "overturned"  # the deduction is removed

    @property
    def label(self) -> str:
        return {"open": "待处理", "upheld": "维持扣分", "overturned": "撤销扣分"}[self.value]


@dataclass(slots=True)
class Dispute:
    """One dispute (申诉) of a finding, from filing to its resolution."""

    id: str
    finding: str
    clause: str
    indicator: str
    statement: str
    evidence: list
    filed_at: str | None
    filed_by: Mapping[str, Any] | None
    status: DisputeStatus = DisputeStatus.OPEN
    reason: str | None = None
    resolution_evidence: list | None = None
    resolved_at: str | None = None
    resolved_by: Mapping[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        """What a finding's row shows of its latest dispute."""
        out: dict[str, Any] = {"id": self.id, "status": self.status.value}
        if self.status is not DisputeStatus.OPEN:
            out["reason"] = self.reason
        return out


def open_to_change(status: str, dispute: Mapping[str, Any] | None) -> bool:
    """A finding can still be retracted or disputed: it is live and no dispute of it is open.

    Takes a finding as views and pages hold it (status text, latest dispute summary), so the
    pages ask this instead of deciding it themselves.
    """
    return status == FindingStatus.LIVE.value and not (dispute and dispute.get("status") == DisputeStatus.OPEN.value)


class DistrictHistory:
    """A district ledger's events folded in order. `details=True` also keeps what pages show."""

    __slots__ = ("findings", "by_clause", "ended", "disputes", "open_dispute", "signed", "details", "version")

    def __init__(self, *, details: bool = False) -> None:
        self.findings: dict[str, Finding] = {}  # every finding ever recorded, in history order
        self.by_clause: dict[str, list[Finding]] = {}  # the same findings grouped by clause, each list oldest first
        self.ended: dict[str, tuple[FindingStatus, str | None]] = {}  # finding → why it no longer counts
        self.disputes: dict[str, Dispute] = {}  # in filing order
        self.open_dispute: dict[str, str] = {}  # finding → its open dispute
        self.signed: dict[str, str | None] = {}  # indicator → when it was signed off (核定)
        self.details: dict[str, dict[str, Any]] | None = {} if details else None
        self.version = 0  # the ledger version folded so far

    # --- reading events ----------------------------------------------------------

    def apply(self, event: str, data: Mapping[str, Any], at: str | None = None, version: int | None = None) -> None:
        """Fold one event: its class name (FindingRecorded …), its data (with `actor`), when it was recorded."""
        handler = _HANDLERS.get(event)
        if handler is not None:
            handler(self, data, at)
        self.version = version if version is not None else self.version + 1

    def record(self, d: Mapping[str, Any], at: str | None) -> None:
        """A FindingRecorded event (the hot path of a replay calls this directly)."""
        fid = d["finding_id"]
        finding = self.findings[fid] = finding_from(d, at)
        found = self.by_clause.get(finding.clause)
        if found is None:
            self.by_clause[finding.clause] = [finding]
        else:
            found.append(finding)
        if self.details is not None:
            self.details[fid] = {k: d.get(k) for k in DETAIL_FIELDS}

    def _retracted(self, d: Mapping[str, Any], at: str | None) -> None:
        self.ended[d["finding_id"]] = (FindingStatus.RETRACTED, d.get("reason"))

    def _disputed(self, d: Mapping[str, Any], at: str | None) -> None:
        self.disputes[d["dispute_id"]] = Dispute(
            id=d["dispute_id"], finding=d["finding_id"], clause=d["clause"], indicator=d["indicator"],
            statement=d["statement"], evidence=list(d.get("evidence") or []), filed_at=at, filed_by=d.get("actor"))
        self.open_dispute[d["finding_id"]] = d["dispute_id"]

    def _resolved(self, d: Mapping[str, Any], at: str | None) -> None:
        dispute = self.disputes[d["dispute_id"]]
        dispute.status = DisputeStatus(d["decision"])
        dispute.reason, dispute.resolved_at, dispute.resolved_by = d.get("reason"), at, d.get("actor")
        dispute.resolution_evidence = list(d.get("evidence") or [])
        self.open_dispute.pop(dispute.finding, None)
        if dispute.status is DisputeStatus.OVERTURNED:
            self.ended[dispute.finding] = (FindingStatus.OVERTURNED, d.get("reason"))

    def _signed_off(self, d: Mapping[str, Any], at: str | None) -> None:
        self.signed.setdefault(d["indicator"], at)

    # --- what the history says -----------------------------------------------------

    def finding(self, finding_id: str) -> Finding:
        try:
            return self.findings[finding_id]
        except KeyError:
            raise NotFound(f"没有这条扣分事项 {finding_id} (no such finding)") from None

    def dispute(self, dispute_id: str) -> Dispute:
        try:
            return self.disputes[dispute_id]
        except KeyError:
            raise NotFound(f"没有申诉 {dispute_id} (no such dispute)") from None

    def status(self, finding_id: str) -> FindingStatus:
        ended = self.ended.get(finding_id)
        return ended[0] if ended else FindingStatus.LIVE

    def status_reason(self, finding_id: str) -> str | None:
        ended = self.ended.get(finding_id)
        return ended[1] if ended else None

    def thread(self, finding_id: str) -> list[Dispute]:
        """Every dispute of a finding, oldest first (at most one open)."""
        return [d for d in self.disputes.values() if d.finding == finding_id]

    def latest_dispute(self, finding_id: str) -> Dispute | None:
        thread = self.thread(finding_id)
        return thread[-1] if thread else None

    def live_by_clause(self) -> dict[str, list[Finding]]:
        """The findings that still count, grouped by clause, each list oldest first (not to be changed)."""
        ended = self.ended
        if not ended:
            return self.by_clause
        return {clause: [f for f in found if f.id not in ended] for clause, found in self.by_clause.items()}

    def score(self, rubric: Rubric) -> DistrictScore:
        return score_grouped(rubric, self.live_by_clause())

    # --- the rules a command on the ledger checks ------------------------------------

    def check_live(self, finding_id: str, doing: str) -> Finding:
        finding = self.finding(finding_id)
        status = self.status(finding_id)
        if status is FindingStatus.RETRACTED:
            raise Conflict(f"扣分事项 {finding_id} 已撤销，不能{doing} (finding was retracted)")
        if status is FindingStatus.OVERTURNED:
            raise Conflict(f"扣分事项 {finding_id} 已因申诉撤销扣分，不能{doing} (finding was overturned)")
        return finding

    def check_retractable(self, finding_id: str) -> Finding:
        finding = self.check_live(finding_id, "撤销")
        if finding_id in self.open_dispute:
            raise Conflict(f"扣分事项 {finding_id} 有未决申诉，请先处理申诉 (finding has an open dispute)")
        return finding

    def check_disputable(self, finding_id: str) -> Finding:
        finding = self.check_live(finding_id, "申诉")
        if finding_id in self.open_dispute:
            raise Conflict(f"扣分事项 {finding_id} 已有未决申诉 {self.open_dispute[finding_id]} "
                           "(already has an open dispute)")
        return finding

    def check_resolvable(self, dispute_id: str) -> Dispute:
        dispute = self.dispute(dispute_id)
        if dispute.status is not DisputeStatus.OPEN:
            raise Conflict(f"申诉 {dispute_id} 已处理（{dispute.status.label}），不能再次处理 (already resolved)")
        return dispute

    # --- what a page or the API shows of a finding -----------------------------------

    def finding_view(self, finding_id: str) -> dict[str, Any]:
        """A finding as the breakdown lists it: its facts, status and latest dispute (needs `details=True`)."""
        f = self.findings[finding_id]
        detail = (self.details or {}).get(finding_id, {})
        latest = self.latest_dispute(finding_id)
        return {"id": f.id, "clause": f.clause, "recorded_at": f.recorded_at, "actor": f.recorded_by, **detail,
                "status": self.status(finding_id).value, "status_reason": self.status_reason(finding_id),
                "dispute": latest.summary() if latest else None}


_HANDLERS: dict[str, Callable[[DistrictHistory, Mapping[str, Any], str | None], None]] = {
    "FindingRecorded": DistrictHistory.record,
    "FindingRetracted": DistrictHistory._retracted,
    "DisputeFiled": DistrictHistory._disputed,
    "DisputeResolved": DistrictHistory._resolved,
    "IndicatorSignedOff": DistrictHistory._signed_off,
}
LEDGER_EVENTS = frozenset(_HANDLERS)  # the events that change a history's reading


def fold(events: Iterable[tuple[str, Mapping[str, Any], str | None]], *, details: bool = False) -> DistrictHistory:
    """(event name, data, recorded_at) in history order → the district's history."""
    history = DistrictHistory(details=details)
    for event, data, at in events:
        history.apply(event, data, at)
    return history
