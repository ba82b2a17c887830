"""Reading the records: years, the rubric tree, a district's audit log, the dispute queue, the office's registers."""

from __future__ import annotations

from typing import Any

from domain.actors import Actor, can_resolve, can_see_dispute, require, require_reader_of
from domain.errors import InvalidInput, NotFound
from domain.lifecycle import DisputeStatus, FindingStatus
from domain.office import MEETING_CLAUSE, is_late
from projections.catchup import loads


class RecordReads:
    def years(self) -> list[dict[str, Any]]:
        self.fresh()
        rows = self.views.query("SELECT year, rubric, districts, closed_at FROM view_years ORDER BY year DESC")
        return [{"year": y, "rubric": r, "districts": loads(d), "closed": c is not None} for y, r, d, c in rows]

    def year_info(self, year: int, after: int | None = None) -> dict[str, Any]:
        """The year as the aggregate knows it, closed as the shared views know it too (another process may
        have closed it). Every read starts here, so it is also where a read waits for the views.

        The aggregate is the one cached here, at most YEAR_RECHECK old, unless the read names a position
        (Kaohe-Read-After): then it is brought up to date, as a caller who just wrote expects."""
        self.fresh(after)
        y = self._year(year) if after else self._recent_year(year)
        # What the shared views say of the year changes only when they move on: asked once per position, not
        # in two queries per read (on PostgreSQL each a round trip from a pooled connection).
        closed_at, published = self.remembered("year-views", year, lambda: self.year_views(year))
        if y.closed and not closed_at:
            # Closed in the store, not yet in the views (another caller's close: this read does not wait for
            # it otherwise): wait for the views to reach the store's head, so an answer never says "final"
            # over figures from before the close. Once a year, for a moment.
            self.fresh(self.recorder.max_notification_id())
            closed_at, published = self.remembered("year-views", year, lambda: self.year_views(year))
        closed = y.closed or bool(closed_at)
        return {"year": year, "rubric": y.rubric, "rubric_hash": y.rubric_hash, "districts": y.districts,
                "closed": closed, **self.year_cycle(y, closed, published)}

    def year_views(self, year: int) -> tuple[str | None, tuple | None]:
        """(when the views saw the year closed, its newest 公示 as (days, starts_on, ends_on)), or Nones."""
        rows = self.views.query("SELECT closed_at FROM view_years WHERE year = ?", (year,))
        published = self.views.query("SELECT days, starts_on, ends_on FROM view_publications WHERE year = ? "
                                     "ORDER BY position DESC LIMIT 1", (year,))
        return (rows[0][0] if rows else None), (tuple(published[0]) if published else None)

    def unsigned_pairs(self, year: int) -> list[list[str]]:
        """Every (district, indicator) not yet signed off (核定), in rubric order, as the views show it."""
        info = self.year_info(year)
        signed = set(self.views.query("SELECT district, indicator FROM view_signoffs WHERE year = ?", (year,)))
        rubric = self.rubric_of_year(year)
        return [[d, i.id] for d in info["districts"] for i in rubric.indicators if (d, i.id) not in signed]

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

    def audit(self, actor: Actor, year: int, district: str) -> list[dict[str, Any]]:
        require_reader_of(actor, district)
        if district not in self.year_info(year)["districts"]:
            raise NotFound(f"{year} 年度没有被考核单位 {district!r} (unknown district)")
        rows = self.views.query(
            "SELECT version, position, recorded_at, actor, type, data, hash, prev_hash, aggregate_id FROM view_audit "
            "WHERE year = ? AND district = ? ORDER BY position", (year, district))
        # Every stored field too (topic, ids, version, state as stored), so anyone can recompute the chain
        # hash and the log's leaf hash (docs/verifiable-log.md).
        stored = self.stored_events_of([(r[8], r[0]) for r in rows])
        events = []
        for v, p, at, a, t, d, h, ph, aggregate in rows:
            event = stored.get((aggregate, v), {})
            signature = loads(event["state"]).get("signature") if event else None
            events.append({"seq": v, "position": p, "recorded_at": at, "actor": loads(a), "type": t, "data": loads(d),
                           "hash": h, "prev_hash": ph, "signature": signature, **event})
        return events

    def disputes(self, actor: Actor, year: int, status: str | None = None) -> list[dict[str, Any]]:
        """The queue: oldest first; a department sees its indicators, a district its own disputes."""
        self.year_info(year)
        sql = ("SELECT dispute_id, district, finding_id, indicator, clause, departments, status, statement, evidence, "
               "filed_at, filed_by, resolved_at, resolved_by, reason FROM view_disputes WHERE year = ?")
        params: list[Any] = [year]
        if status:
            if status not in {s.value for s in DisputeStatus}:
                raise InvalidInput("status 只能是 open、upheld 或 overturned", field="status")
            sql += " AND status = ?"
            params.append(status)
        result = []
        for r in self.views.query(sql + " ORDER BY position", params):
            item = {"id": r[0], "district": r[1], "finding": r[2], "indicator": r[3], "clause": r[4],
                    "departments": loads(r[5]), "status": r[6], "statement": r[7], "evidence": loads(r[8]),
                    "filed_at": r[9], "filed_by": loads(r[10]), "resolved_at": r[11],
                    "resolved_by": loads(r[12]), "reason": r[13]}
            if can_see_dispute(actor, item["district"], item["departments"]):
                item["can_resolve"] = can_resolve(actor, {"departments": item["departments"]})
                result.append(item)
        self.dispute_extras(year, result)
        return result

    def workflows(self, actor: Actor, year: int, kind: str) -> list[dict[str, Any]]:
        """Meetings, reports or tasks of a year, folded from their events (oldest first)."""
        require(actor, "read_registers")
        self.year_info(year)
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
                    item.update(submissions={}, late_submissions={}, closed=False)
                elif kind == "Task":
                    item["outcomes"] = {}
            elif event_type == "SubmissionRecorded":
                item["submissions"][d["district"]] = d["submitted_on"]
                item["late_submissions"][d["district"]] = is_late(d["submitted_on"], item["due_on"])
            elif event_type == "Closed":
                item.update(closed=True, late=d["late"], missing=d["missing"])
            elif event_type == "OutcomeRecorded":
                item["outcomes"][d["district"]] = d["outcome"]
            elif event_type == "Voided":
                item.update(voided=True, void_reason=d["reason"], voided_at=at)
        if kind == "Meeting":
            caused = self._caused_findings(year, MEETING_CLAUSE)
            for item in items.values():
                item.setdefault("voided", False)
                item["absences"] = caused.get(item["id"], [])
        return list(items.values())

    def _caused_findings(self, year: int, clause: str) -> dict[str, list[dict[str, Any]]]:
        """Per office workflow (its id), the findings it caused and their status as the scoreboard has
        read it from each district's history (domain.lifecycle): live, retracted or overturned."""
        rows = self.views.query(
            "SELECT finding_id, district, data, status, status_reason FROM view_findings "
            "WHERE year = ? AND clause = ? ORDER BY position", (year, clause))
        caused: dict[str, list[dict[str, Any]]] = {}
        for finding_id, district, data, status, reason in rows:
            source = (loads(data) or {}).get("source") or {}
            if source.get("id"):
                caused.setdefault(source["id"], []).append({
                    "finding": finding_id, "district": district, "status": status,
                    "status_label": FindingStatus(status).label, "status_reason": reason})
        return caused


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
