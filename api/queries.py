"""The read side of the application service: scores, breakdowns, audit log, disputes, office lists.

Every query first catches the projections up with the store (cheap when nothing is new),
so a read after a write always sees it, in this process or another sharing the store.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable
from zoneinfo import ZoneInfo

from domain.actors import SCORE_READERS, Actor, require_reader_of, require_role
from domain.chain import history_digest
from domain.errors import InvalidInput, NotFound
from projections.catchup import loads
from projections.scoreboard import breakdown, fold_events

SHANGHAI = ZoneInfo("Asia/Shanghai")


def as_of_bound(value: str | None) -> str | None:
    """`as_of` → the last included instant as UTC ISO text. A date means the end of that day in Shanghai."""
    if not value:
        return None
    try:
        if "T" not in value and " " not in value:  # a date (2018-12-31 or 20181231): the end of that day
            day = date.fromisoformat(value)
            end = datetime.combine(day + timedelta(days=1), time(0), SHANGHAI) - timedelta(microseconds=1)
        else:
            end = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if end.tzinfo is None:
                end = end.replace(tzinfo=SHANGHAI)
        bound = end.astimezone(timezone.utc).isoformat(timespec="microseconds")
    except (ValueError, OverflowError):
        raise InvalidInput(f"as_of 格式错误，应为日期或日期时间 (malformed as_of: {value!r})", field="as_of") from None
    return bound


class Queries:
    """Mixed into the application service; `self.views` and `self.catchup` are its read side."""

    def catch_up(self) -> int:
        return self.catchup.run()

    # --- lookups the commands need ---------------------------------------------

    def district_of_finding(self, year: int, finding_id: str) -> str:
        self.catch_up()
        rows = self.views.query("SELECT district FROM view_findings WHERE year = ? AND finding_id = ?",
                                (year, finding_id))
        if not rows:
            raise NotFound(f"{year} 年度没有发现 {finding_id} (no such finding)")
        return rows[0][0]

    def dispute_location(self, year: int, dispute_id: str) -> tuple[str, str]:
        self.catch_up()
        rows = self.views.query("SELECT district, indicator FROM view_disputes WHERE year = ? AND dispute_id = ?",
                                (year, dispute_id))
        if not rows:
            raise NotFound(f"{year} 年度没有申诉 {dispute_id} (no such dispute)")
        return rows[0][0], rows[0][1]

    def unsigned_pairs(self, year: int) -> list[list[str]]:
        """Every (district, indicator) not yet signed off (核定), in rubric order."""
        self.catch_up()
        y = self._year(year)
        signed = set(self.views.query("SELECT district, indicator FROM view_signoffs WHERE year = ?", (year,)))
        rubric = self.rubric_of_year(year)
        return [[d, i.id] for d in y.districts for i in rubric.indicators if (d, i.id) not in signed]

    # --- years and rubric ----------------------------------------------------------

    def years(self) -> list[dict[str, Any]]:
        self.catch_up()
        rows = self.views.query("SELECT year, rubric, districts, closed_at FROM view_years ORDER BY year DESC")
        return [{"year": y, "rubric": r, "districts": loads(d), "closed": c is not None} for y, r, d, c in rows]

    def year_info(self, year: int) -> dict[str, Any]:
        y = self._year(year)
        return {"year": year, "rubric": y.rubric, "rubric_hash": y.rubric_hash, "districts": y.districts,
                "closed": y.closed or self._closed_in_views(year)}

    def _closed_in_views(self, year: int) -> bool:
        """Closed as the shared views know it: another process may have closed the year."""
        self.catch_up()
        rows = self.views.query("SELECT closed_at FROM view_years WHERE year = ?", (year,))
        return bool(rows and rows[0][0])

    def rubric_tree(self, year: int) -> dict[str, Any]:
        rubric = self.rubric_of_year(year)
        return {
            "id": rubric.id, "title": rubric.title, "content_hash": rubric.content_hash,
            "total": rubric.total, "notes": list(rubric.notes), "warnings": list(rubric.warnings),
            "categories": [
                {"id": c.id, "name": c.name, "points": c.points, "indicators": [
                    {"id": i.id, "name": i.name, "points": i.points, "departments": list(i.departments),
                     "evidence": list(i.evidence), "notes": list(i.notes),
                     "clauses": [_clause_tree(cl) for cl in i.clauses]}
                    for i in c.indicators]}
                for c in rubric.categories
            ],
        }

    # --- scores -----------------------------------------------------------------------

    def scores(self, actor: Actor, year: int, as_of: str | None = None) -> dict[str, Any]:
        require_role(actor, *SCORE_READERS)
        info = self.year_info(year)
        bound = as_of_bound(as_of)
        self.catch_up()
        if bound is None:
            ranked = self._current_ranking(year)
        else:
            ranked = rank([self._breakdown_as_of(year, d, bound) for d in info["districts"]])
        final = info["closed"] and bound is None
        return {
            "year": year, "final": final, "as_of": bound, "digest": self.digest(year) if final else None,
            "indicators": len(self.rubric_of_year(year).indicators),
            "districts": [
                {"district": r["district"], "total": Decimal(r["total"]), "rank": r["rank"],
                 "signed_off": r["signed_off"],
                 "categories": {c["id"]: Decimal(c["score"]) for c in r["categories"]}}
                for r in ranked
            ],
        }

    def _current_ranking(self, year: int) -> list[dict[str, Any]]:
        rows = self.views.query("SELECT summary FROM view_districts WHERE year = ?", (year,))
        return rank([loads(summary) for (summary,) in rows])

    def remembered_now(self, name: str, year: int) -> Any:
        """The remembered answer if the store has not moved on since; None otherwise."""
        self.catch_up()
        hit = self._remembered.get((name, year))
        if hit is not None and hit[0] is not None and hit[0] == self.catchup.caught_up_to:
            return hit[1]
        return None

    def remembered(self, name: str, year: int, compute: Callable[[], Any]) -> Any:
        """A read answer kept until the store moves on.

        The views are a function of the store's history up to the position they have caught
        up to, so the same position gives the same answer, in any process. Callers check the
        reader's role before asking.
        """
        value = self.remembered_now(name, year)
        if value is None:
            # Labelled with the position reached before computing: the answer holds at least
            # that much (another thread may catch up further meanwhile; a label older than the
            # content only costs a recomputation, a newer one would hide a write).
            position = self.catchup.caught_up_to
            value = compute()
            self._remembered[(name, year)] = (position, value)
        return value

    def district_score(self, actor: Actor, year: int, district: str, as_of: str | None = None) -> dict[str, Any]:
        require_reader_of(actor, district)
        info = self.year_info(year)
        if district not in info["districts"]:
            raise NotFound(f"{year} 年度没有被考核单位 {district!r} (unknown district)")
        bound = as_of_bound(as_of)
        self.catch_up()
        if bound is None:
            result = self.scoreboard.breakdown_of(self.views, year, district)
            details = self._finding_details(year, district)
        else:
            result = self._breakdown_as_of(year, district, bound)
            details = self._finding_details_as_of(year, district, bound)
        rubric = self.rubric_of_year(year)
        for category in result["categories"]:
            for indicator in category["indicators"]:
                for clause in indicator["clauses"]:
                    cl = rubric.clause(clause["id"])
                    clause.update(kind=cl.kind, label=cl.label, points=str(cl.points))
                    live = set(clause["findings"])
                    # Live findings first (they carry the deduction), then the retracted or
                    # overturned ones, so the district sees what was taken back and why.
                    clause["findings"] = [
                        {**details.get(fid, {"id": fid}), "counted": fid in clause["counted"]}
                        for fid in clause["findings"]
                    ] + [
                        {**d, "counted": False} for d in details.values()
                        if d.get("clause") == cl.id and d["id"] not in live
                    ]
        result.update(year=year, as_of=bound)
        return result

    def _breakdown_as_of(self, year: int, district: str, bound: str) -> dict[str, Any]:
        rows = self.views.query(
            "SELECT type, data FROM view_audit WHERE year = ? AND district = ? AND recorded_at <= ? ORDER BY position",
            (year, district, bound),
        )
        fold = fold_events((t, loads(d)) for t, d in rows)
        rubric = self.rubric_of_year(year)
        return breakdown(rubric, district, fold.score(rubric), fold.signed)

    def _finding_details(self, year: int, district: str) -> dict[str, dict[str, Any]]:
        rows = self.views.query(
            "SELECT finding_id, clause, recorded_at, data, status, status_reason, dispute FROM view_findings "
            "WHERE year = ? AND district = ? ORDER BY position", (year, district))
        return {fid: {"id": fid, "clause": clause, "recorded_at": at, **loads(data), "status": status,
                      "status_reason": reason, "dispute": loads(dispute)}
                for fid, clause, at, data, status, reason, dispute in rows}

    def _finding_details_as_of(self, year: int, district: str, bound: str) -> dict[str, dict[str, Any]]:
        """Each finding as it stood at `bound`: its facts, and retraction or dispute known by then."""
        rows = self.views.query(
            "SELECT recorded_at, actor, type, data FROM view_audit WHERE year = ? AND district = ? AND recorded_at <= ? "
            "ORDER BY position", (year, district, bound))
        details: dict[str, dict[str, Any]] = {}
        for at, actor, event_type, data in rows:
            d = loads(data)
            if event_type == "FindingRecorded":
                details[d["finding_id"]] = {
                    "id": d["finding_id"], "clause": d["clause"], "recorded_at": at, "actor": loads(actor),
                    **{k: d.get(k) for k in ("occurred_on", "measures", "evidence", "note", "reference", "source")},
                    "status": "live", "status_reason": None, "dispute": None}
            elif event_type == "FindingRetracted":
                details[d["finding_id"]].update(status="retracted", status_reason=d["reason"])
            elif event_type == "DisputeFiled":
                details[d["finding_id"]]["dispute"] = {"id": d["dispute_id"], "status": "open"}
            elif event_type == "DisputeResolved":
                finding = details[d["finding_id"]]
                finding["dispute"] = {"id": d["dispute_id"], "status": d["decision"], "reason": d["reason"]}
                if d["decision"] == "overturned":
                    finding.update(status="overturned", status_reason=d["reason"])
        return details

    def score_difference(self, actor: Actor, year: int, district: str, since: str, until: str | None = None) -> dict[str, Any]:
        """What changed in a district's score between two instants, indicator by indicator."""
        before = self.district_score(actor, year, district, as_of=since)
        after = self.district_score(actor, year, district, as_of=until) if until else self.district_score(actor, year, district)
        old = {i["id"]: i for c in before["categories"] for i in c["indicators"]}
        changes = []
        for category in after["categories"]:
            for i in category["indicators"]:
                was = Decimal(old[i["id"]]["score"])
                now = Decimal(i["score"])
                if was != now:
                    changes.append({"indicator": i["id"], "name": i["name"], "before": was, "after": now,
                                    "change": now - was})
        return {"district": district, "since": before["as_of"], "until": after["as_of"],
                "before": Decimal(before["total"]), "after": Decimal(after["total"]),
                "change": Decimal(after["total"]) - Decimal(before["total"]), "indicators": changes}

    # --- audit log, disputes, office lists ------------------------------------------

    def audit(self, actor: Actor, year: int, district: str) -> list[dict[str, Any]]:
        require_reader_of(actor, district)
        if district not in self.year_info(year)["districts"]:
            raise NotFound(f"{year} 年度没有被考核单位 {district!r} (unknown district)")
        self.catch_up()
        rows = self.views.query(
            "SELECT version, position, recorded_at, actor, type, data, hash, prev_hash FROM view_audit "
            "WHERE year = ? AND district = ? ORDER BY position", (year, district))
        return [{"seq": v, "position": p, "recorded_at": at, "actor": loads(a), "type": t, "data": loads(d),
                 "hash": h, "prev_hash": ph} for v, p, at, a, t, d, h, ph in rows]

    def disputes(self, actor: Actor, year: int, status: str | None = None) -> list[dict[str, Any]]:
        """The queue: oldest first; a department sees its indicators, a district its own disputes."""
        self.year_info(year)
        self.catch_up()
        sql = ("SELECT dispute_id, district, finding_id, indicator, clause, departments, status, statement, evidence, "
               "filed_at, filed_by, resolved_at, resolved_by, reason FROM view_disputes WHERE year = ?")
        params: list[Any] = [year]
        if status:
            if status not in ("open", "upheld", "overturned"):
                raise InvalidInput("status 只能是 open、upheld 或 overturned", field="status")
            sql += " AND status = ?"
            params.append(status)
        rows = self.views.query(sql + " ORDER BY position", params)
        result = []
        for r in rows:
            item = {"id": r[0], "district": r[1], "finding": r[2], "indicator": r[3], "clause": r[4],
                    "departments": loads(r[5]), "status": r[6], "statement": r[7], "evidence": loads(r[8]),
                    "filed_at": r[9], "filed_by": loads(r[10]), "resolved_at": r[11],
                    "resolved_by": loads(r[12]), "reason": r[13]}
            if actor.role == "district" and item["district"] != actor.district:
                continue
            if actor.role in ("office", "department") and actor.unit not in item["departments"]:
                continue
            result.append(item)
        return result

    def workflows(self, actor: Actor, year: int, kind: str) -> list[dict[str, Any]]:
        """Meetings, reports or tasks of a year, folded from their events (oldest first)."""
        require_role(actor, "office", "auditor", "admin")
        self.year_info(year)
        self.catch_up()
        rows = self.views.query(
            "SELECT aggregate_id, type, data, recorded_at FROM view_audit WHERE year = ? AND kind = ? ORDER BY position",
            (year, kind))
        items: dict[str, dict[str, Any]] = {}
        for aggregate_id, event_type, data, at in rows:
            d = loads(data)
            item = items.setdefault(aggregate_id, {"id": aggregate_id})
            if event_type in ("Held", "Scheduled", "Assigned"):
                item.update({k: v for k, v in d.items() if k != "year"}, recorded_at=at)
                if kind == "Report":
                    item.update(submissions={}, closed=False)
                elif kind == "Task":
                    item["outcomes"] = {}
            elif event_type == "SubmissionRecorded":
                item["submissions"][d["district"]] = d["submitted_on"]
            elif event_type == "Closed":
                item.update(closed=True, late=d["late"], missing=d["missing"])
            elif event_type == "OutcomeRecorded":
                item["outcomes"][d["district"]] = d["outcome"]
        return list(items.values())

    # --- the Excel workbook ---------------------------------------------------------------

    def export_xlsx(self, year: int, actor: Actor | None = None) -> bytes:
        """The workbook of a year's ranking and every district's deductions (office, auditor, admin)."""
        from api.export import build_workbook

        reader = actor or Actor("export", "admin")
        require_role(reader, "office", "auditor", "admin")
        ranking = self.scores(reader, year)
        breakdowns = [self.district_score(reader, year, row["district"]) for row in ranking["districts"]]
        return build_workbook(ranking, breakdowns, self.rubric_of_year(year))

    # --- the history's digest -----------------------------------------------------------

    def digest(self, year: int) -> str:
        """SHA-256 over every chain head of the year, as the audit log has seen them."""
        self.catch_up()
        rows = self.views.query(
            "SELECT e.aggregate_id, e.version, e.hash FROM view_audit e JOIN ("
            " SELECT aggregate_id, MAX(version) AS v FROM view_audit WHERE year = ? GROUP BY aggregate_id) m"
            " ON e.aggregate_id = m.aggregate_id AND e.version = m.v", (year,))
        return history_digest((a, v, h) for a, v, h in rows)


def rank(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best first; equal totals share a rank (1, 1, 3)."""
    ordered = sorted(results, key=lambda r: (-Decimal(r["total"]), r["district"]))
    previous = None
    for place, r in enumerate(ordered, start=1):
        total = Decimal(r["total"])
        r["rank"] = previous[1] if previous and previous[0] == total else place
        previous = (total, r["rank"])
    return ordered


def _clause_tree(cl: Any) -> dict[str, Any]:
    tree: dict[str, Any] = {"id": cl.id, "kind": cl.kind, "finding_kind": cl.finding_kind, "label": cl.label,
                            "points": cl.points, "text": cl.text}
    for name in ("per", "step", "threshold"):
        if getattr(cl, name) is not None:
            tree[name] = getattr(cl, name)
    if cl.measures:
        tree["measures"] = [{"key": m.key, "label": m.label, "unit": m.unit,
                             **({"target": m.target} if m.target is not None else {}),
                             **({"required": m.required} if m.required is not None else {})}
                            for m in cl.measures]
    if cl.tiers:
        tree["tiers"] = [{"min": t.min, "earn": t.earn} for t in cl.tiers]
    if cl.exempts:
        tree["exempts"] = cl.exempts
    if cl.note:
        tree["note"] = cl.note
    return tree
