"""What the JSON API answers about the assessment cycle: files, 申报, 公示, rubrics (beside models.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from api.http.models import Answer, Receipt

SubmissionStatus = Literal["waiting", "reviewed", "returned"]


class UploadedEvidence(Answer):
    sha256: str
    size: int
    media_type: str
    filename: str
    reference: str = Field(description='what an evidence list names it by: "sha256:<hex>"')
    district: str
    created: bool = Field(description="false: the district already had these bytes (200, nothing recorded)")
    receipt: Receipt


class EvidenceEntry(Answer):
    sha256: str
    reference: str
    size: int
    media_type: str
    filename: str
    uploaded_at: str
    actor: dict[str, Any]


class EvidenceList(Answer):
    year: int
    district: str
    files: list[EvidenceEntry]


class Submitted(Answer):
    id: str
    district: str
    indicator: str
    status: SubmissionStatus
    receipt: Receipt


class SubmissionEntry(Answer):
    id: str
    district: str
    indicator: str
    departments: list[str]
    statement: str
    evidence: list[str]
    submitted_at: str
    submitted_by: dict[str, Any]
    status: SubmissionStatus = Field(description="reviewed: signed off (核定) while it was the newest 申报")
    superseded: bool = Field(description="a newer 申报 for the same indicator replaced it")
    returned_reason: str | None
    returned_at: str | None
    returned_by: dict[str, Any] | None
    reviewed_at: str | None


class Submissions(Answer):
    year: int
    submissions: list[SubmissionEntry]


class Published(Answer):
    year: int
    days: int
    starts_on: str
    ends_on: str
    stage: Literal["publication"]
    receipt: Receipt


class RubricEntry(Answer):
    id: str
    title: str
    content_hash: str
    source: Literal["shipped", "added"]


class Rubrics(Answer):
    rubrics: list[RubricEntry]
