"""The assessment cycle's views: a district's uploaded files, its 申报 with their review status, 公示, added rubrics.

Ledger rows are written from the district's `DistrictHistory` (domain.lifecycle), handed over by the
scoreboard, which folds every ledger event already (`ledger_rows`); year and rubric events need no
history and are read by the `CycleViews` projection of their own.
"""

from __future__ import annotations

from typing import Callable

from domain.lifecycle import DistrictHistory
from domain.rubric import Rubric
from projections.catchup import Fact, dumps
from projections.store import Transaction

LEDGER_TYPES = frozenset({"EvidenceUploaded", "MaterialsSubmitted", "SubmissionReturned", "IndicatorSignedOff"})
UPSERT_SUBMISSION = (
    "INSERT INTO view_submissions (submission_id, year, district, indicator, departments, statement, evidence, "
    "submitted_at, submitted_by, status, superseded, returned_reason, returned_at, returned_by, reviewed_at, position) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (submission_id) DO UPDATE SET "
    "status = excluded.status, superseded = excluded.superseded, returned_reason = excluded.returned_reason, "
    "returned_at = excluded.returned_at, returned_by = excluded.returned_by, reviewed_at = excluded.reviewed_at"
)


def ledger_rows(tx: Transaction, fact: Fact, history: DistrictHistory, rubric_of_year: Callable[[int], Rubric]) -> None:
    """The rows a ledger event of the cycle touches, as the history (already folded to it) reads them."""
    if fact.type not in LEDGER_TYPES:
        return
    d = fact.data
    if fact.type == "EvidenceUploaded":
        tx.execute(
            "INSERT INTO view_evidence (year, district, sha256, size, media_type, filename, uploaded_at, actor, "
            "position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (year, district, sha256) DO NOTHING",
            (fact.year, fact.district, d["sha256"], d["size"], d["media_type"], d["filename"], fact.recorded_at,
             dumps(fact.actor), fact.position))
        return
    # A submission, a return or a sign-off: every 申报 of that indicator is read again (superseded, status).
    indicator = d["indicator"]
    departments = dumps(list(rubric_of_year(fact.year).indicator(indicator).departments))
    for submission in (s for s in history.submissions.values() if s.indicator == indicator):
        v = submission.view()
        # The position only counts for a new row (where the submission was made); updates keep theirs.
        tx.execute(UPSERT_SUBMISSION, (
            v["id"], fact.year, fact.district, indicator, departments, v["statement"], dumps(v["evidence"]),
            v["submitted_at"], dumps(v["submitted_by"]), v["status"], int(v["superseded"]), v["returned_reason"],
            v["returned_at"], dumps(v["returned_by"]) if v["returned_by"] else None, v["reviewed_at"], fact.position))


class CycleViews:
    """Year and rubric events of the cycle: each 公示 (AssessmentYear.Published) and each added rubric."""

    name = "cycle"

    def apply(self, tx: Transaction, fact: Fact) -> None:
        d = fact.data
        if fact.kind == "AssessmentYear" and fact.type == "Published":
            tx.execute(
                "INSERT INTO view_publications (position, year, days, starts_on, ends_on, published_at, actor) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (position) DO NOTHING",
                (fact.position, fact.year, d["days"], d["starts_on"], d["ends_on"], fact.recorded_at,
                 dumps(fact.actor)))
        elif fact.kind == "RubricFile" and fact.type == "Added":
            tx.execute(
                "INSERT INTO view_rubrics (rubric_id, title, content_hash, added_at, actor) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (rubric_id) DO NOTHING",
                (d["rubric_id"], d["title"], d["content_hash"], fact.recorded_at, dumps(fact.actor)))

    def finish(self, tx: Transaction) -> None:
        pass
