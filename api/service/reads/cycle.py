"""Reading the assessment cycle: the year's stage and 公示, the 申报 review queue, a district's 申报,
the dispute queue's points at stake and days waited, the rubrics a year can open on."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from api.service.rubric_files import _shipped, available_rubrics
from domain import chained
from domain.actors import Actor, can_read_submissions_of, require, require_reader_of
from domain.cycle import instant, stage, waiting_days
from domain.errors import InvalidInput, NotFound
from domain.lifecycle import SubmissionStatus
from domain.rubric_file import rubric_file_id
from domain.working_days import shanghai_date
from projections.catchup import loads

SUBMISSION_COLUMNS = ("submission_id, district, indicator, departments, statement, evidence, submitted_at, "
                      "submitted_by, status, superseded, returned_reason, returned_at, returned_by, reviewed_at")


def _submission(row: tuple) -> dict[str, Any]:
    (sid, district, indicator, departments, statement, evidence, at, by, status, superseded, reason, returned_at,
     returned_by, reviewed_at) = row
    return {"id": sid, "district": district, "indicator": indicator, "departments": loads(departments),
            "statement": statement, "evidence": loads(evidence), "submitted_at": at, "submitted_by": loads(by),
            "status": status, "superseded": bool(superseded), "returned_reason": reason, "returned_at": returned_at,
            "returned_by": loads(returned_by), "reviewed_at": reviewed_at}


class CycleReads:
    # --- the year's stage --------------------------------------------------------------

    def year_cycle(self, y: Any, closed: bool, published: tuple | None) -> dict[str, Any]:
        """What year_info adds: dispute_days, the latest 公示 and the stage today (`published`: the newest 公示
        the views hold, as (days, starts_on, ends_on))."""
        publication = dict(y.publication) if y.publication else None
        if published and (publication is None or published[1] > publication["starts_on"]):
            # Another process published since this one last read the year (the shared views saw it).
            publication = {"days": published[0], "starts_on": published[1], "ends_on": published[2]}
        today = shanghai_date(chained.utcnow())
        current = stage(closed, publication["ends_on"] if publication else None, today)
        return {"dispute_days": y.dispute_days, "publication": publication, "stage": current}

    def stage_of(self, year: int) -> str:
        return self.year_info(year)["stage"]

    # --- 申报 ------------------------------------------------------------------------------

    def submissions_queue(self, actor: Actor, year: int, indicator: str | None = None,
                          status: str | None = None) -> list[dict[str, Any]]:
        """Per district and indicator the newest 申报, oldest first, for whoever reviews that indicator."""
        require(actor, "read_submissions")
        info = self.year_info(year)
        if status and status not in {s.value for s in SubmissionStatus}:
            raise InvalidInput("status 只能是 waiting、reviewed 或 returned", field="status")
        sql = f"SELECT {SUBMISSION_COLUMNS} FROM view_submissions WHERE year = ? AND superseded = 0"
        params: list[Any] = [year]
        if indicator:
            sql += " AND indicator = ?"
            params.append(indicator)
        if status:
            sql += " AND status = ?"
            params.append(status)
        items = [_submission(r) for r in self.views.query(sql + " ORDER BY position", params)]
        order = {d: n for n, d in enumerate(info["districts"])}  # the year's official order, then oldest first
        items.sort(key=lambda s: order.get(s["district"], len(order)))
        return [s for s in items if can_read_submissions_of(actor, {"departments": s["departments"]})]

    def district_submissions(self, actor: Actor, year: int, district: str) -> list[dict[str, Any]]:
        """Every 申报 of a district, oldest first; `superseded` marks those a newer one replaced."""
        require_reader_of(actor, district)
        if district not in self.year_info(year)["districts"]:
            raise NotFound(f"{year} 年度没有被考核单位 {district!r} (unknown district)")
        rows = self.views.query(f"SELECT {SUBMISSION_COLUMNS} FROM view_submissions WHERE year = ? AND district = ? "
                                "ORDER BY position", (year, district))
        return [_submission(r) for r in rows]

    # --- the dispute queue ------------------------------------------------------------------

    def dispute_extras(self, year: int, items: list[dict[str, Any]]) -> None:
        """Add `points_at_stake` (the finding's counted share of its clause's deduction, from the breakdown
        the engine computed) and `waiting_days` (working days since filing, to its resolution or today)."""
        shares: dict[str, Decimal] = {}
        for district in {d["district"] for d in items}:
            rows = self.views.query("SELECT breakdown FROM view_districts WHERE year = ? AND district = ?",
                                    (year, district))
            result = loads(rows[0][0]) if rows and rows[0][0] else {"categories": []}
            for category in result["categories"]:
                for indicator in category["indicators"]:
                    for clause in indicator["clauses"]:
                        shares.update({fid: Decimal(v) for fid, v in (clause.get("shares") or {}).items()})
        now = chained.utcnow()
        for d in items:
            d["points_at_stake"] = shares.get(d["finding"], Decimal(0))
            until = instant(d["resolved_at"]) if d.get("resolved_at") else now
            d["waiting_days"] = waiting_days(d["filed_at"], until)

    # --- rubrics ------------------------------------------------------------------------------

    def rubrics(self) -> list[dict[str, Any]]:
        """Every rubric a year can open on: the shipped ones, then those added as data."""
        self.fresh()
        shipped = [{"id": r.id, "title": r.title, "content_hash": r.content_hash, "source": "shipped"}
                   for r in (_shipped(i) for i in available_rubrics())]
        added = [{"id": i, "title": t, "content_hash": h, "source": "added", "added_at": at}
                 for i, t, h, at in self.views.query(
                     "SELECT rubric_id, title, content_hash, added_at FROM view_rubrics ORDER BY added_at")]
        return shipped + added

    def stored_rubric_text(self, rubric_id: str) -> str | None:
        """The document of a rubric added as data, from the event store (not the views)."""
        try:
            return self.repository.get(rubric_file_id(rubric_id)).document
        except AggregateNotFoundError:
            return None
