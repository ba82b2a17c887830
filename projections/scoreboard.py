"""The scoreboard (成绩): every district's findings, sign-offs, breakdown and total.

Findings and sign-offs are written with the tracking position; a district they touch is
marked dirty in the same transaction and rescored by `settle()` (once per catch-up, not
once per event, so a rebuild of a million findings scores each district once).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable, Iterable

from domain.findings import Finding
from domain.rubric import Rubric
from domain.scoring import DistrictScore, score_district
from projections.catchup import Fact, dumps, loads
from projections.store import ViewStore

NO_MEASURES: dict[str, Decimal] = {}
_new_tuple = tuple.__new__
FINDING_DETAIL = ("occurred_on", "measures", "evidence", "note", "reference", "source")


class Scoreboard:
    name = "scoreboard"

    def __init__(self, rubric_of_year: Callable[[int], Rubric]):
        self.rubric_of_year = rubric_of_year
        self._touched: set[tuple[int, str]] = set()

    def apply(self, views: ViewStore, fact: Fact) -> None:
        handler = getattr(self, f"_on_{fact.kind}_{fact.type}", None)
        if handler:
            handler(views, fact)

    def finish(self, views: ViewStore) -> None:
        for year, district in self._touched:
            views.execute("UPDATE view_districts SET dirty = 1 WHERE year = ? AND district = ?", (year, district))
        self._touched.clear()

    def settle(self, views: ViewStore) -> int:
        """Rescore every dirty district; return how many."""
        dirty = views.query("SELECT year, district, rubric FROM view_districts WHERE dirty = 1")
        with views.transaction() as tx:
            for year, district, _ in dirty:
                score = self.rescore(tx, year, district)
                # The ranking reads only the small summary; a district's page reads the breakdown.
                summary = {"district": district, "total": score["total"], "signed_off": score["signed_off"],
                           "categories": [{"id": c["id"], "score": c["score"]} for c in score["categories"]]}
                tx.execute(
                    "UPDATE view_districts SET total = ?, summary = ?, breakdown = ?, dirty = 0 "
                    "WHERE year = ? AND district = ?",
                    (str(score["total"]), dumps(summary), dumps(score), year, district),
                )
        return len(dirty)

    def rescore(self, views: ViewStore, year: int, district: str) -> dict[str, Any]:
        rows = views.query(
            "SELECT finding_id, clause, data, status FROM view_findings WHERE year = ? AND district = ? ORDER BY position",
            (year, district),
        )
        findings = [finding_from(fid, clause, loads(data)) for fid, clause, data, _ in rows]
        cancelled = {fid for fid, _, _, status in rows if status != "live"}
        signed = {r[0] for r in views.query(
            "SELECT indicator FROM view_signoffs WHERE year = ? AND district = ?", (year, district))}
        rubric = self.rubric_of_year(year)
        return breakdown(rubric, district, score_district(rubric, findings, cancelled), signed)

    # --- events --------------------------------------------------------------

    def _on_AssessmentYear_Opened(self, views: ViewStore, fact: Fact) -> None:
        d = fact.data
        views.execute(
            "INSERT INTO view_years (year, rubric, rubric_hash, districts, opened_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (year) DO NOTHING",
            (d["year"], d["rubric"], d["rubric_hash"], dumps(d["districts"]), fact.recorded_at),
        )

    def _on_AssessmentYear_Closed(self, views: ViewStore, fact: Fact) -> None:
        views.execute(
            "UPDATE view_years SET closed_at = ?, close_data = ? WHERE year = ?",
            (fact.recorded_at, dumps({**fact.data, "actor": fact.actor}), fact.year),
        )

    def _on_DistrictLedger_Opened(self, views: ViewStore, fact: Fact) -> None:
        views.execute(
            "INSERT INTO view_districts (year, district, rubric, dirty) VALUES (?, ?, ?, 1) "
            "ON CONFLICT (year, district) DO NOTHING",
            (fact.data["year"], fact.data["district"], fact.data["rubric"]),
        )

    def _on_DistrictLedger_FindingRecorded(self, views: ViewStore, fact: Fact) -> None:
        d = fact.data
        detail = {k: d.get(k) for k in FINDING_DETAIL}
        detail["actor"] = fact.actor
        views.execute(
            "INSERT INTO view_findings (finding_id, year, district, clause, indicator, position, recorded_at, data, status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'live') ON CONFLICT (finding_id) DO NOTHING",
            (d["finding_id"], fact.year, fact.district, d["clause"], d["indicator"], fact.position,
             fact.recorded_at, dumps(detail)),
        )
        self._touched.add((fact.year, fact.district))

    def _on_DistrictLedger_FindingRetracted(self, views: ViewStore, fact: Fact) -> None:
        views.execute(
            "UPDATE view_findings SET status = 'retracted', status_reason = ? WHERE finding_id = ?",
            (fact.data["reason"], fact.data["finding_id"]),
        )
        self._touched.add((fact.year, fact.district))

    def _on_DistrictLedger_DisputeFiled(self, views: ViewStore, fact: Fact) -> None:
        views.execute(
            "UPDATE view_findings SET dispute = ? WHERE finding_id = ?",
            (dumps({"id": fact.data["dispute_id"], "status": "open"}), fact.data["finding_id"]),
        )
        self._touched.add((fact.year, fact.district))

    def _on_DistrictLedger_DisputeResolved(self, views: ViewStore, fact: Fact) -> None:
        d = fact.data
        dispute = dumps({"id": d["dispute_id"], "status": d["decision"], "reason": d["reason"]})
        if d["decision"] == "overturned":
            views.execute(
                "UPDATE view_findings SET dispute = ?, status = 'overturned', status_reason = ? WHERE finding_id = ?",
                (dispute, d["reason"], d["finding_id"]),
            )
        else:
            views.execute("UPDATE view_findings SET dispute = ? WHERE finding_id = ?", (dispute, d["finding_id"]))
        self._touched.add((fact.year, fact.district))

    def _on_DistrictLedger_IndicatorSignedOff(self, views: ViewStore, fact: Fact) -> None:
        views.execute(
            "INSERT INTO view_signoffs (year, district, indicator, recorded_at, actor) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (year, district, indicator) DO NOTHING",
            (fact.year, fact.district, fact.data["indicator"], fact.recorded_at, dumps(fact.actor)),
        )
        self._touched.add((fact.year, fact.district))


def finding_from(finding_id: str, clause: str, detail: dict[str, Any]) -> Finding:
    """A stored finding (decimals as text, exactly as written) as the engine's `Finding`."""
    measures = detail.get("measures")
    exact = {k: Decimal(v) for k, v in measures.items()} if measures else NO_MEASURES
    # tuple.__new__ skips the named tuple's Python-level __new__: a replay builds a million of these.
    return _new_tuple(Finding, (finding_id, clause, detail.get("occurred_on"), exact))


class HistoryFold:
    """A district's history read event by event → findings (in order), cancelled ids, signed-off indicators.

    The one reading of a history shared by as-of views and the fast replay, so they cannot
    disagree with each other; the projection's tables hold the same facts.
    """

    __slots__ = ("findings", "cancelled", "signed")

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.cancelled: set[str] = set()
        self.signed: set[str] = set()

    def add(self, event_type: str, d: dict[str, Any]) -> None:
        if event_type == "FindingRecorded":
            self.findings.append(finding_from(d["finding_id"], d["clause"], d))
        elif event_type == "FindingRetracted":
            self.cancelled.add(d["finding_id"])
        elif event_type == "DisputeResolved":
            if d["decision"] == "overturned":
                self.cancelled.add(d["finding_id"])
        elif event_type == "IndicatorSignedOff":
            self.signed.add(d["indicator"])


def fold_events(facts: Iterable[tuple[str, dict[str, Any]]]) -> tuple[list[Finding], set[str], set[str]]:
    """(event type, data) in order → findings, cancelled ids, signed-off indicators."""
    fold = HistoryFold()
    for event_type, d in facts:
        fold.add(event_type, d)
    return fold.findings, fold.cancelled, fold.signed


def breakdown(rubric: Rubric, district: str, score: DistrictScore, signed: set[str]) -> dict[str, Any]:
    """The engine's result as plain data (decimals kept as text, exact) for views and the API."""
    return {
        "district": district,
        "total": str(score.total),
        "signed_off": sum(1 for i in rubric.indicators if i.id in signed),
        "categories": [
            {
                "id": c.id, "name": c.name, "points": str(c.points), "score": str(c.score),
                "indicators": [
                    {
                        "id": i.id, "name": i.name, "points": str(i.points), "score": str(i.score),
                        "deduction": str(i.deduction), "signed_off": i.id in signed,
                        "exempt": i.exempt, "gated": i.gated,
                        "clauses": [
                            {
                                "id": cl.id, "deduction": str(cl.deduction), "exempt": cl.exempt,
                                "findings": [f.id for f in cl.findings], "counted": list(cl.counted),
                            }
                            for cl in i.clauses
                        ],
                    }
                    for i in c.indicators
                ],
            }
            for c in score.categories
        ],
    }
