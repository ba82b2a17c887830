"""The scoreboard (成绩): every district's findings, sign-offs, summary and total.

Findings and sign-offs are written with the tracking position; a district they touch gets
its `revision` bumped and is marked dirty in the same transaction, and `settle()` rescores
it once per catch-up (not once per event: a rebuild of a million findings scores each
district once). The engine's input per district is also held in memory, keyed by that
revision, so rescoring after a new finding does not re-read the district's whole history;
a revision moved by another process, or a rolled-back catch-up, makes it re-read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterable

from domain.findings import Finding
from domain.rubric import Rubric
from domain.scoring import DistrictScore, score_district, score_grouped
from projections.catchup import Fact, dumps, loads
from projections.store import ViewStore

NO_MEASURES: dict[str, Decimal] = {}
_new_tuple = tuple.__new__
FINDING_DETAIL = ("occurred_on", "measures", "evidence", "note", "reference", "source")
CACHED_DISTRICTS = 5000
INSERT_FINDING = (
    "INSERT INTO view_findings (finding_id, year, district, clause, indicator, position, recorded_at, data, status) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'live') ON CONFLICT (finding_id) DO NOTHING"
)


@dataclass
class DistrictState:
    """What the engine needs for one district, as the views held it at `revision`."""

    revision: int
    findings: dict[str, Finding] = field(default_factory=dict)  # in history order
    cancelled: set[str] = field(default_factory=set)
    signed: set[str] = field(default_factory=set)

    def copy(self) -> DistrictState:
        return DistrictState(self.revision, dict(self.findings), set(self.cancelled), set(self.signed))


class Scoreboard:
    name = "scoreboard"

    def __init__(self, rubric_of_year: Callable[[int], Rubric]):
        self.rubric_of_year = rubric_of_year
        self._lock = threading.RLock()  # readers of `_states` against the catch-up that replaces them
        self._touched: set[tuple[int, str]] = set()  # districts this batch changed
        # Copy-on-write: a batch updates private copies of the states held when it first touched
        # each district (None: none was held), swapped in by finish(); readers never see a half batch.
        self._pending: dict[tuple[int, str], tuple[DistrictState | None, DistrictState | None]] = {}
        self._states: OrderedDict[tuple[int, str], DistrictState] = OrderedDict()
        self._new_findings: list[tuple] = []  # inserted together, in order, before any update

    def apply(self, views: ViewStore, fact: Fact) -> None:
        handler = getattr(self, f"_on_{fact.kind}_{fact.type}", None)
        if handler:
            if fact.type != "FindingRecorded":
                self._flush(views)  # an update may concern a finding still waiting to be inserted
            handler(views, fact)

    def _flush(self, views: ViewStore) -> None:
        rows, self._new_findings = self._new_findings, []
        views.executemany(INSERT_FINDING, rows)

    def finish(self, views: ViewStore) -> None:
        self._flush(views)
        views.executemany("UPDATE view_districts SET dirty = 1, revision = revision + 1 WHERE year = ? AND district = ?",
                          list(self._touched))
        with self._lock:
            for key in self._touched:
                original, updated = self._pending.get(key, (None, None))
                if updated is not None and self._states.get(key) is original:
                    updated.revision += 1  # it saw the same events, in the same transaction
                    self._states[key] = updated
                else:
                    self._states.pop(key, None)  # none held, or a reader replaced it mid-batch
        self._touched.clear()
        self._pending.clear()

    def forget(self) -> None:
        """The catch-up transaction rolled back (or the views were emptied): trust nothing in memory."""
        with self._lock:
            self._states.clear()
        self._touched.clear()
        self._pending.clear()
        self._new_findings = []

    def settle(self, views: ViewStore) -> int:
        """Rescore every dirty district; return how many."""
        dirty = views.query("SELECT year, district FROM view_districts WHERE dirty = 1")
        with views.transaction() as tx:
            for year, district in dirty:
                score = self.breakdown_of(tx, year, district)
                # The ranking reads only this small summary.
                summary = {"district": district, "total": score["total"], "signed_off": score["signed_off"],
                           "categories": [{"id": c["id"], "score": c["score"]} for c in score["categories"]]}
                tx.execute("UPDATE view_districts SET total = ?, summary = ?, dirty = 0 WHERE year = ? AND district = ?",
                           (score["total"], dumps(summary), year, district))
        return len(dirty)

    def breakdown_of(self, views: ViewStore, year: int, district: str) -> dict[str, Any]:
        """The district's breakdown as the views hold it now."""
        state = self.state_of(views, year, district)
        rubric = self.rubric_of_year(year)
        score = score_district(rubric, state.findings.values(), state.cancelled)
        return breakdown(rubric, district, score, state.signed)


    def state_of(self, views: ViewStore, year: int, district: str) -> DistrictState:
        key = (year, district)
        with self._lock:
            return self._state_of(views, key)

    def _state_of(self, views: ViewStore, key: tuple[int, str]) -> DistrictState:
        rows = views.query("SELECT revision FROM view_districts WHERE year = ? AND district = ?", key)
        revision = rows[0][0] if rows else 0
        state = self._states.get(key)
        if state is not None and state.revision == revision:
            self._states.move_to_end(key)
            return state
        state = DistrictState(revision)
        for fid, clause, data, status in views.query(
                "SELECT finding_id, clause, data, status FROM view_findings WHERE year = ? AND district = ? "
                "ORDER BY position", key):
            state.findings[fid] = finding_from(fid, clause, loads(data))
            if status != "live":
                state.cancelled.add(fid)
        state.signed = {r[0] for r in views.query(
            "SELECT indicator FROM view_signoffs WHERE year = ? AND district = ?", key)}
        self._states[key] = state
        if len(self._states) > CACHED_DISTRICTS:
            self._states.popitem(last=False)
        return state

    def _cached(self, fact: Fact) -> DistrictState | None:
        """This batch's private copy of the district's state, for the caller to update; None if none was held."""
        key = (fact.year, fact.district)
        if key not in self._touched:
            self._touched.add(key)
            with self._lock:
                original = self._states.get(key)
            self._pending[key] = (original, original.copy() if original is not None else None)
        return self._pending[key][1]

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
            "INSERT INTO view_districts (year, district, rubric, dirty, revision) VALUES (?, ?, ?, 1, 0) "
            "ON CONFLICT (year, district) DO NOTHING",
            (fact.data["year"], fact.data["district"], fact.data["rubric"]),
        )

    def _on_DistrictLedger_FindingRecorded(self, views: ViewStore, fact: Fact) -> None:
        d = fact.data
        detail = {k: d.get(k) for k in FINDING_DETAIL}
        detail["actor"] = fact.actor
        self._new_findings.append((d["finding_id"], fact.year, fact.district, d["clause"], d["indicator"],
                                   fact.position, fact.recorded_at, dumps(detail)))
        state = self._cached(fact)
        if state is not None:
            state.findings.setdefault(d["finding_id"], finding_from(d["finding_id"], d["clause"], d))

    def _on_DistrictLedger_FindingRetracted(self, views: ViewStore, fact: Fact) -> None:
        views.execute(
            "UPDATE view_findings SET status = 'retracted', status_reason = ? WHERE finding_id = ?",
            (fact.data["reason"], fact.data["finding_id"]),
        )
        state = self._cached(fact)
        if state is not None:
            state.cancelled.add(fact.data["finding_id"])

    def _on_DistrictLedger_DisputeFiled(self, views: ViewStore, fact: Fact) -> None:
        views.execute(
            "UPDATE view_findings SET dispute = ? WHERE finding_id = ?",
            (dumps({"id": fact.data["dispute_id"], "status": "open"}), fact.data["finding_id"]),
        )  # a dispute filed changes no score

    def _on_DistrictLedger_DisputeResolved(self, views: ViewStore, fact: Fact) -> None:
        d = fact.data
        dispute = dumps({"id": d["dispute_id"], "status": d["decision"], "reason": d["reason"]})
        if d["decision"] == "overturned":
            views.execute(
                "UPDATE view_findings SET dispute = ?, status = 'overturned', status_reason = ? WHERE finding_id = ?",
                (dispute, d["reason"], d["finding_id"]),
            )
            state = self._cached(fact)
            if state is not None:
                state.cancelled.add(d["finding_id"])
        else:
            views.execute("UPDATE view_findings SET dispute = ? WHERE finding_id = ?", (dispute, d["finding_id"]))

    def _on_DistrictLedger_IndicatorSignedOff(self, views: ViewStore, fact: Fact) -> None:
        views.execute(
            "INSERT INTO view_signoffs (year, district, indicator, recorded_at, actor) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (year, district, indicator) DO NOTHING",
            (fact.year, fact.district, fact.data["indicator"], fact.recorded_at, dumps(fact.actor)),
        )
        state = self._cached(fact)
        if state is not None:
            state.signed.add(fact.data["indicator"])


def finding_from(finding_id: str, clause: str, detail: dict[str, Any]) -> Finding:
    """A stored finding (decimals as text, exactly as written) as the engine's `Finding`."""
    measures = detail.get("measures")
    exact = {k: Decimal(v) for k, v in measures.items()} if measures else NO_MEASURES
    # tuple.__new__ skips the named tuple's Python-level __new__: a replay builds a million of these.
    return _new_tuple(Finding, (finding_id, clause, detail.get("occurred_on"), exact))


class HistoryFold:
    """A district's history read event by event → its findings grouped by clause, cancelled ids, sign-offs.

    The one reading of a history shared by as-of views and the fast replay, so they cannot
    disagree with each other; the projection's tables hold the same facts.
    """

    __slots__ = ("by_clause", "cancelled", "signed")

    def __init__(self) -> None:
        self.by_clause: defaultdict[str, list[Finding]] = defaultdict(list)  # each list oldest first
        self.cancelled: set[str] = set()
        self.signed: set[str] = set()

    def add(self, event_type: str, d: dict[str, Any]) -> None:
        if event_type == "FindingRecorded":
            self.by_clause[d["clause"]].append(finding_from(d["finding_id"], d["clause"], d))
        elif event_type == "FindingRetracted":
            self.cancelled.add(d["finding_id"])
        elif event_type == "DisputeResolved":
            if d["decision"] == "overturned":
                self.cancelled.add(d["finding_id"])
        elif event_type == "IndicatorSignedOff":
            self.signed.add(d["indicator"])

    def live(self) -> dict[str, list[Finding]]:
        """The findings that still count, by clause (retracted and overturned ones left out)."""
        if not self.cancelled:
            return self.by_clause
        return {clause: [f for f in found if f.id not in self.cancelled] for clause, found in self.by_clause.items()}

    def score(self, rubric: Rubric) -> DistrictScore:
        return score_grouped(rubric, self.live())


def fold_events(facts: Iterable[tuple[str, dict[str, Any]]]) -> HistoryFold:
    """(event type, data) in history order → the district's `HistoryFold`."""
    fold = HistoryFold()
    for event_type, d in facts:
        fold.add(event_type, d)
    return fold


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
