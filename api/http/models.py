"""What the JSON API answers, as pydantic models, so /openapi.json documents every success and error body.

Points are exact decimals inside kaohe; `Points` turns them into JSON numbers here, rounded
once, half-up, to 2 decimals (domain.scoring.display). Answers allow extra fields, so a field
the service adds is passed on, not silently dropped; the declared ones are the contract.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from domain.scoring import display


def _number(value: Decimal) -> float:
    return float(display(Decimal(value)))


Points = Annotated[Decimal, PlainSerializer(_number, return_type=float, when_used="json")]


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorDetail(Answer):
    code: str = Field(examples=["invalid"])
    message: str = Field(description="in Chinese, with an English gloss", examples=["title 不能为空 (title is required)"])
    field: str | None = Field(None, description="the input it is about, e.g. measures.rate")
    details: Any = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class LogEntry(Answer):
    """A receipt's proof that its event is in the year's Merkle log: leaf `index` (leaf input `hash`, the
    event's chain hash), a checkpoint of `size` and `root` signed in `note`, and the inclusion `proof`."""

    index: int
    size: int
    root: str
    note: str
    proof: list[str]
    hash: str


class Receipt(Answer):
    """What a writer keeps: which chain, how long it is now, and its head (the newest event's hash), and
    `log`: the last event the write recorded, proven in a signed checkpoint (null if the log was unavailable)."""

    aggregate: str
    version: int
    head: str
    log: LogEntry | None = None


class LogHead(Answer):
    """The final signed checkpoint of a closed year: its tree size and root (hex)."""

    size: int
    root: str


class Health(Answer):
    status: Literal["ok", "degraded"]
    store_head: int = Field(description="the store's newest notification id")
    projections: dict[str, int] = Field(description="how far each projection has read")
    lag_events: int
    lag_seconds: float
    catch_up: Literal["leader", "follower", "alone", "none"] = Field(
        "none", description="this process's part in keeping the views caught up: one process per store (the "
                            "leader) catches up and the others follow it; alone for a SQLite store in memory; "
                            "none without a runner")
    reasons: list[str] | None = None


class YearSummary(Answer):
    year: int
    rubric: str
    districts: list[str]
    closed: bool


class Years(Answer):
    years: list[YearSummary]


class PublicationInfo(Answer):
    days: int
    starts_on: str
    ends_on: str = Field(description="the 公示's last day (Asia/Shanghai, inclusive)")


class YearInfo(Answer):
    year: int
    rubric: str
    rubric_hash: str
    districts: list[str]
    closed: bool
    dispute_days: int = Field(description="working days a finding can be disputed after the day it was recorded")
    publication: PublicationInfo | None = Field(description="the latest 公示, if any")
    stage: Literal["open", "publication", "closed"] = Field(description="进行中 / 公示中 / 已结束, today")


class OpenedYear(Answer):
    year: int
    rubric: str
    rubric_hash: str
    districts: list[str]
    dispute_days: int
    receipt: Receipt


class ClosedYear(Answer):
    year: int
    closed: bool
    forced: bool
    unsigned: list[list[str]] = Field(description="[district, indicator] pairs not signed off at close")
    receipt: Receipt
    digest: str
    log: LogHead | None = Field(None, description="the final signed checkpoint's size and root")


class MeasureTree(Answer):
    key: str
    label: str
    unit: str
    target: Points | None = None
    required: Points | None = None


class TierTree(Answer):
    min: Points
    earn: Points


class ClauseTree(Answer):
    id: str
    kind: str
    finding_kind: str | None = None
    label: str
    points: Points
    text: str
    per: Points | None = None
    step: Points | None = None
    threshold: Points | None = None
    measures: list[MeasureTree] | None = None
    tiers: list[TierTree] | None = None
    exempts: str | list[str] | None = None
    note: str | None = None


class IndicatorTree(Answer):
    id: str
    name: str
    points: Points
    departments: list[str]
    evidence: list[str]
    clauses: list[ClauseTree]


class CategoryTree(Answer):
    id: str
    name: str
    points: Points
    indicators: list[IndicatorTree]


class RubricTree(Answer):
    id: str
    title: str
    content_hash: str
    total: Points
    notes: list[str]
    warnings: list[str]
    categories: list[CategoryTree]


class Problem(Answer):
    aggregate: str | None = None
    version: int | None = None
    position: int | None = None
    problem: str


class Verification(Answer):
    ok: bool
    events: int
    chains: int
    head: str
    problems: list[Problem]
    first_broken: Problem | None


class RecordedFinding(Answer):
    id: str
    district: str
    clause: str
    indicator: str
    receipt: Receipt


class Retracted(Answer):
    id: str
    retracted: bool
    receipt: Receipt


class FiledDispute(Answer):
    id: str
    finding: str
    district: str
    status: str
    receipt: Receipt


class ResolvedDispute(Answer):
    id: str
    district: str
    status: str
    receipt: Receipt


class DisputeEntry(Answer):
    id: str
    district: str
    finding: str
    indicator: str
    clause: str
    departments: list[str]
    status: Literal["open", "upheld", "overturned"]
    statement: str
    evidence: list[str]
    filed_at: str
    filed_by: dict[str, Any]
    resolved_at: str | None
    resolved_by: dict[str, Any] | None
    reason: str | None
    points_at_stake: Points = Field(description="the finding's counted share of its clause's deduction now")
    waiting_days: int | None = Field(description="working days since filing (to the resolution, or today)")
    can_resolve: bool = Field(description="the reader may resolve it (its indicator's 责任部门, or admin)")


class DisputeQueue(Answer):
    year: int
    disputes: list[DisputeEntry]


class SignedOff(Answer):
    district: str
    indicator: str
    signed_off: bool
    receipt: Receipt


class CausedFinding(Answer):
    id: str
    district: str
    clause: str
    receipt: Receipt
    reason: Literal["late", "missing"] | None = None


class HeldMeeting(Answer):
    id: str
    findings: list[CausedFinding]


class Absence(Answer):
    finding: str
    district: str
    status: Literal["live", "retracted", "overturned"]
    status_label: str
    status_reason: str | None = None


class MeetingEntry(Answer):
    id: str
    title: str
    held_on: str
    absent: list[str]
    excused: list[str]
    recorded_at: str
    voided: bool = False
    void_reason: str | None = None
    absences: list[Absence] = Field([], description="the finding each absence caused, with its status")


class Meetings(Answer):
    year: int
    meetings: list[MeetingEntry]


class ScheduledReport(Answer):
    id: str
    title: str
    due_on: str


class ReportEntry(Answer):
    id: str
    title: str
    due_on: str
    submissions: dict[str, str] = Field(description="district → date submitted")
    late_submissions: dict[str, bool] = Field(description="district → submitted after the due date")
    closed: bool
    late: list[str] | None = None
    missing: list[str] | None = None
    recorded_at: str


class Reports(Answer):
    year: int
    reports: list[ReportEntry]


class RecordedSubmission(Answer):
    report: str
    district: str
    submitted_on: str
    on_time: bool
    receipt: Receipt


class ClosedReport(Answer):
    id: str
    late: list[str]
    missing: list[str]
    findings: list[CausedFinding]


class AssignedTask(Answer):
    id: str
    title: str
    districts: list[str]


class TaskEntry(Answer):
    id: str
    title: str
    assigned_on: str
    due_on: str
    districts: list[str]
    outcomes: dict[str, str] = Field(description="district → completed | unfinished")
    recorded_at: str


class Tasks(Answer):
    year: int
    tasks: list[TaskEntry]


class TaskFinding(Answer):
    id: str
    clause: str


class RecordedOutcome(Answer):
    task: str
    district: str
    outcome: str
    finding: TaskFinding | None = None
    receipt: Receipt


class RankRow(Answer):
    district: str
    total: Points
    rank: int
    signed_off: int
    categories: dict[str, Points]


class Ranking(Answer):
    year: int
    final: bool
    as_of: str | None
    digest: str | None
    indicators: int
    districts: list[RankRow]
    log: LogHead | None = None


class FindingEntry(Answer):
    id: str
    clause: str | None = None
    status: Literal["live", "retracted", "overturned"] | None = None
    counted: bool
    recorded_at: str | None = None
    occurred_on: str | None = None
    measures: dict[str, Any] | None = None
    evidence: list[str] | None = None
    note: str | None = None
    status_reason: str | None = None
    dispute: dict[str, Any] | None = None
    points: Points | None = Field(None, description="its share of the clause's deduction (0 when not counted)")
    dispute_until: str | None = Field(None, description="live findings: the last day it can be disputed "
                                                        "(null: the official calendar does not reach it yet)")


class ClauseResult(Answer):
    id: str
    kind: str
    label: str
    points: Points
    deduction: Points
    exempt: bool
    counted: list[str]
    findings: list[FindingEntry] = Field(description="the live findings, oldest first, then the retracted or "
                                                     "overturned; beyond 10, the counted ones and the newest")
    findings_total: int | None = Field(None, description="how many findings the clause has (live or not)")


class IndicatorResult(Answer):
    id: str
    name: str
    points: Points
    score: Points
    deduction: Points
    signed_off: bool
    exempt: bool
    gated: bool
    clauses: list[ClauseResult]


class CategoryResult(Answer):
    id: str
    name: str
    points: Points
    score: Points
    indicators: list[IndicatorResult]


class Breakdown(Answer):
    year: int
    district: str
    total: Points
    signed_off: int
    as_of: str | None
    categories: list[CategoryResult]


class IndicatorChange(Answer):
    indicator: str
    name: str
    before: Points
    after: Points
    change: Points


class ScoreDifference(Answer):
    district: str
    since: str | None
    until: str | None
    before: Points
    after: Points
    change: Points
    indicators: list[IndicatorChange]


class AuditEvent(Answer):
    seq: int
    position: int
    recorded_at: str
    actor: dict[str, Any]
    type: str
    data: dict[str, Any]
    hash: str
    prev_hash: str
    signature: str | None = None
    topic: str | None = None
    originator_id: str | None = None
    originator_version: int | None = None
    state: str | None = None


class AuditLog(Answer):
    year: int
    district: str
    events: list[AuditEvent]


class BulletinHeading(Answer):
    """The 通报's heading as the office set it (title, 文号, date)."""

    year: int
    title: str
    number: str
    date: str
    receipt: Receipt


class TokenInfo(Answer):
    """An access token as admin sees it: never the token, nor its hash."""

    name: str
    role: str
    department: str | None = None
    district: str | None = None
    created_at: str
    created_by: str | None = None
    expires_at: str | None = None
    revoked_at: str | None = None
    revoked_by: str | None = None
    status: Literal["active", "expired", "revoked"]


class TokenEvent(Answer):
    at: str
    action: Literal["created", "revoked"]
    name: str
    role: str
    department: str | None = None
    district: str | None = None
    actor: str = Field(description="who made or revoked it (an admin's token name, or cli:<user>)")
    expires_at: str | None = None


class TokenList(Answer):
    tokens: list[TokenInfo]
    events: list[TokenEvent]


# --- bulk entry and import ---------------------------------------------------------

class RecordedFindings(Answer):
    findings: list[RecordedFinding]


class SignedOffMany(Answer):
    signoffs: list[SignedOff]


class RecordedSubmissions(Answer):
    submissions: list[RecordedSubmission]


class RecordedOutcomes(Answer):
    outcomes: list[RecordedOutcome]


class RetractedByVoid(Answer):
    id: str
    district: str
    receipt: Receipt


class VoidedMeeting(Answer):
    id: str
    voided: bool
    retracted: list[RetractedByVoid]
    receipt: Receipt


class ImportRow(Answer):
    row: int = Field(description="the workbook row (Excel numbering)")
    district: str
    clause: str
    indicator: str
    measures: dict[str, str]
    deduction: Points = Field(description="the clause's deduction once the row is recorded")
    before: Points = Field(description="the clause's deduction now")
    indicator_score: Points
    indicator_score_before: Points
    id: str | None = None
    receipt: Receipt | None = None


class CellError(Answer):
    cell: str = Field(examples=["C5"])
    message: str = Field(examples=["必须是 0–100 的数"])


class ImportResult(Answer):
    year: int
    indicator: str | None
    sha256: str
    evidence: str = Field(description="the reference every recorded event carries: sha256:<hex>")
    dry_run: bool
    rows: list[ImportRow]
    errors: list[CellError]
