"""What the JSON API takes: one pydantic model per request body; unknown fields are refused (422)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DateText = Annotated[str, Field(description="Asia/Shanghai calendar date, YYYY-MM-DD", examples=["2018-03-15"])]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenYear(Body):
    year: int = Field(examples=[2018])
    rubric: str = Field(examples=["dalian-2018"])
    districts: list[str] = Field(examples=[["中山区", "西岗区", "沙河口区"]])
    dispute_days: int = Field(10, description="the dispute window: working days after a finding's day (1..60)")


class RecordFinding(Body):
    clause: str = Field(examples=["2.1.a"])
    occurred_on: DateText | None = None
    measures: dict[str, Any] | None = Field(
        None, description="one number per measure key of the clause (rates in %, counts whole)",
        examples=[{"rate": 77.9}])
    reference: str | None = None
    note: str | None = None
    evidence: list[str] | None = None


class Retraction(Body):
    reason: str
    evidence: list[str] | None = None


class HoldMeeting(Body):
    title: str
    held_on: DateText
    absent: list[str] = []
    excused: list[str] = []
    note: str | None = None
    evidence: list[str] | None = None
    allow_duplicate: bool = Field(False, description="record it although a meeting with this title and date exists")


class ScheduleReport(Body):
    title: str
    due_on: DateText
    note: str | None = None


class RecordSubmission(Body):
    district: str
    submitted_on: DateText
    evidence: list[str] | None = None


class AssignTask(Body):
    title: str
    assigned_on: DateText
    due_on: DateText
    districts: list[str]
    note: str | None = None


class RecordOutcome(Body):
    district: str
    outcome: Literal["completed", "unfinished"]
    note: str | None = None
    evidence: list[str] | None = None


class FileDispute(Body):
    statement: str
    evidence: list[str] | None = None


class ResolveDispute(Body):
    decision: Literal["upheld", "overturned"]
    reason: str
    evidence: list[str] | None = None


class SignOff(Body):
    indicator: str = Field(examples=["8.2"])
    note: str | None = None
    evidence: list[str] | None = None


class CloseYear(Body):
    force: bool = False
    note: str | None = None


class SetBulletin(Body):
    title: str | None = Field(None, description="the 通报's title; a default naming the year when left out")
    number: str = Field(description="文号", examples=["大工发〔2019〕3号"])
    date: DateText


# --- bulk entry: all or nothing, one transaction; a refusal names the row (findings[3].measures.rate) ---

class FindingRow(RecordFinding):
    district: str


class FindingBatch(Body):
    findings: list[FindingRow] = Field(max_length=5000)


class SignOffRow(SignOff):
    district: str


class SignOffBatch(Body):
    signoffs: list[SignOffRow] = Field(max_length=5000)


class SubmissionBatch(Body):
    submissions: list[RecordSubmission] = Field(max_length=5000)


class OutcomeBatch(Body):
    outcomes: list[RecordOutcome] = Field(max_length=5000)


class VoidMeeting(Body):
    reason: str


class SubmitMaterials(Body):
    indicator: str = Field(examples=["2.1"])
    statement: str = Field(description="自评说明: how the district met the indicator")
    evidence: list[str] | None = Field(
        None, description='free text, or "sha256:<hex>" of a file uploaded for the district')


class ReturnSubmission(Body):
    reason: str
    evidence: list[str] | None = None


class Publish(Body):
    days: int = Field(examples=[5], description="working days the provisional results are published (1..60)")
    note: str | None = None
class Cosignature(Body):
    note: str = Field(description="the checkpoint note with the witness's cosignature line added")
