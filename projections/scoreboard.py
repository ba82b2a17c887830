"""The scoreboard (成绩): years, districts, findings, disputes, sign-offs and the scores computed from them.

Every district ledger event is folded into that district's `DistrictHistory` (domain.lifecycle,
the one reading of a history) and the rows it touches are written from what the history says:
a finding's status and dispute, the dispute queue, the sign-offs. A touched district's
`version` moves on in the same transaction; `settle_in()` rescores each district whose scores lag
its version, once per catch-up and in its last transaction (a rebuild of a million findings scores each district once).
Histories are kept in memory between catch-ups, checked by ledger version; one that is not
(another process moved on, or the batch rolled back) is read again from the event store.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Container, Sequence

from domain.findings import Finding
from domain.lifecycle import Dispute, DistrictHistory
from domain.rubric import Rubric
from domain.scoring import ClauseScore, IndicatorScore, counted_shares, score_grouped
from projections import cycle
from projections.catchup import Fact, dumps
from projections.store import Transaction

CACHED_DISTRICTS = 5000
SHOWN = 10  # findings a clause of a breakdown lists at most, beyond the counted ones (see shown_findings)
SETTLE_ROWS = 500  # rescored districts written together (a rebuild rescores every one: their JSON, not all at once)
INSERT_FINDING = (
    "INSERT INTO view_findings (finding_id, year, district, clause, indicator, position, recorded_at, data, status) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'live') ON CONFLICT (finding_id) DO NOTHING"
)
FINDING_DETAIL = ("occurred_on", "measures", "evidence", "note", "reference", "source")
LoadHistory = Callable[[str, int], DistrictHistory]  # (ledger id, up to version) → its history, from the store


class Scoreboard:
    name = "scoreboard"

    def __init__(self, rubric_of_year: Callable[[int], Rubric], load_history: LoadHistory):
        self.rubric_of_year = rubric_of_year
        self.load_history = load_history
        self._histories: OrderedDict[str, DistrictHistory] = OrderedDict()  # ledger id → its history
        # (year, district) → ledger version and position reached in this batch
        self._touched: dict[tuple[int, str], tuple[int, int]] = {}
        self._new_findings: list[tuple] = []  # inserted together, in order, before any update

    # --- catching up -------------------------------------------------------------

    def apply(self, tx: Transaction, fact: Fact) -> None:
        if fact.kind == "AssessmentYear":
            self._on_year(tx, fact)
        elif fact.kind == "DistrictLedger":
            self._on_ledger(tx, fact)

    def finish(self, tx: Transaction) -> None:
        self._flush(tx)
        # By the primary key: one row looked up, not the table scanned (no index on aggregate_id).
        tx.executemany("UPDATE view_districts SET version = ?, touched_at = ? WHERE year = ? AND district = ? "
                       "AND version < ?", [(v, at, year, district, v) for (year, district), (v, at) in self._touched.items()])
        self._touched.clear()

    def forget(self) -> None:
        """The catch-up transaction rolled back (or the views were emptied): trust nothing in memory."""
        self._histories.clear()
        self._touched.clear()
        self._new_findings = []

    def settle_in(self, tx: Transaction) -> int:
        """Rescore every district whose scores lag its ledger version (in the catch-up's last transaction);
        return how many."""
        lagging = tx.query("SELECT year, district, aggregate_id, version, touched_at FROM view_districts "
                           "WHERE scored < version")
        # Stamped with the position of the district's newest event: positions are projected in order, so
        # "rescored since" is one indexed range (api.service.reads.ranking), and a rebuild stamps alike.
        rows = []
        for year, district, ledger, version, stamp in lagging:
            history = self._history_at(ledger, version)
            rubric = self.rubric_of_year(year)
            result = breakdown(rubric, district, history)
            # The ranking reads only this small summary.
            summary = {"district": district, "total": result["total"], "signed_off": result["signed_off"],
                       "categories": [{"id": c["id"], "score": c["score"]} for c in result["categories"]]}
            rows.append((result["total"], dumps(summary), dumps(result), version, stamp, year, district, version))
            if len(rows) == SETTLE_ROWS:
                self._write_scores(tx, rows)
                rows = []
        self._write_scores(tx, rows)
        return len(lagging)

    @staticmethod
    def _write_scores(tx: Transaction, rows: list[tuple]) -> None:
        # Together: on PostgreSQL one round trip for the lot (psycopg pipelines an executemany), not one a district.
        tx.executemany("UPDATE view_districts SET total = ?, summary = ?, breakdown = ?, scored = ?, scored_at = ? "
                       "WHERE year = ? AND district = ? AND version = ?", rows)

    def _history_at(self, ledger: str, version: int) -> DistrictHistory:
        history = self._histories.get(ledger)
        if history is None or history.version != version:
            history = self.load_history(ledger, version)
        self._remember(ledger, history)
        return history

    def _remember(self, ledger: str, history: DistrictHistory) -> None:
        self._histories[ledger] = history
        self._histories.move_to_end(ledger)
        if len(self._histories) > CACHED_DISTRICTS:
            self._histories.popitem(last=False)

    def _flush(self, tx: Transaction) -> None:
        rows, self._new_findings = self._new_findings, []
        tx.executemany(INSERT_FINDING, rows)

    # --- events --------------------------------------------------------------

    def _on_year(self, tx: Transaction, fact: Fact) -> None:
        d = fact.data
        if fact.type == "Opened":
            tx.execute(
                "INSERT INTO view_years (year, rubric, rubric_hash, districts, opened_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (year) DO NOTHING",
                (d["year"], d["rubric"], d["rubric_hash"], dumps(d["districts"]), fact.recorded_at))
        elif fact.type == "Closed":
            tx.execute("UPDATE view_years SET closed_at = ?, close_data = ? WHERE year = ?",
                       (fact.recorded_at, dumps({**d, "actor": fact.actor}), fact.year))

    def _on_ledger(self, tx: Transaction, fact: Fact) -> None:
        if fact.type == "Opened":
            tx.execute(
                "INSERT INTO view_districts (year, district, rubric, aggregate_id, version, scored, touched_at) "
                "VALUES (?, ?, ?, ?, 1, 0, ?) ON CONFLICT (year, district) DO NOTHING",
                (fact.data["year"], fact.data["district"], fact.data["rubric"], fact.aggregate_id, fact.position))
            self._remember(fact.aggregate_id, DistrictHistory())
            self._histories[fact.aggregate_id].version = 1
            return
        history = self._histories.get(fact.aggregate_id)
        if history is None or history.version != fact.version - 1:
            history = self.load_history(fact.aggregate_id, fact.version - 1)
        self._remember(fact.aggregate_id, history)
        history.apply(fact.type, {**fact.data, "actor": fact.actor}, fact.recorded_at, fact.version)
        self._touched[(fact.year, fact.district)] = (fact.version, fact.position)
        d = fact.data
        if fact.type == "FindingRecorded":
            detail = {k: d.get(k) for k in FINDING_DETAIL}
            detail["actor"] = fact.actor
            self._new_findings.append((d["finding_id"], fact.year, fact.district, d["clause"], d["indicator"],
                                       fact.position, fact.recorded_at, dumps(detail)))
            return
        self._flush(tx)  # an update below may concern a finding still waiting to be inserted
        cycle.ledger_rows(tx, fact, history, self.rubric_of_year)  # files and 申报 (projections.cycle)
        if fact.type in ("FindingRetracted", "DisputeFiled", "DisputeResolved"):
            self._write_finding(tx, history, d["finding_id"])
        if fact.type == "DisputeFiled":
            self._insert_dispute(tx, fact, history.dispute(d["dispute_id"]))
        elif fact.type == "DisputeResolved":
            dispute = history.dispute(d["dispute_id"])
            tx.execute("UPDATE view_disputes SET status = ?, resolved_at = ?, resolved_by = ?, reason = ? "
                       "WHERE dispute_id = ?",
                       (dispute.status.value, dispute.resolved_at, dumps(dispute.resolved_by), dispute.reason,
                        dispute.id))
        elif fact.type == "IndicatorSignedOff":
            tx.execute(
                "INSERT INTO view_signoffs (year, district, indicator, recorded_at, actor) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (year, district, indicator) DO NOTHING",
                (fact.year, fact.district, d["indicator"], fact.recorded_at, dumps(fact.actor)))

    @staticmethod
    def _write_finding(tx: Transaction, history: DistrictHistory, finding_id: str) -> None:
        """A finding's row as its history reads it now: status, why, and its latest dispute."""
        latest = history.latest_dispute(finding_id)
        tx.execute("UPDATE view_findings SET status = ?, status_reason = ?, dispute = ? WHERE finding_id = ?",
                   (history.status(finding_id).value, history.status_reason(finding_id),
                    dumps(latest.summary()) if latest else None, finding_id))

    def _insert_dispute(self, tx: Transaction, fact: Fact, dispute: Dispute) -> None:
        departments = list(self.rubric_of_year(fact.year).indicator(dispute.indicator).departments)
        tx.execute(
            "INSERT INTO view_disputes (dispute_id, year, district, finding_id, indicator, clause, departments, "
            "status, statement, evidence, filed_at, filed_by, position) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dispute_id) DO NOTHING",
            (dispute.id, fact.year, fact.district, dispute.finding, dispute.indicator, dispute.clause,
             dumps(departments), dispute.status.value, dispute.statement, dumps(dispute.evidence),
             dispute.filed_at, dumps(dispute.filed_by), fact.position))


def breakdown(rubric: Rubric, district: str, history: DistrictHistory, *, every: bool = False) -> dict[str, Any]:
    """The district's scores as plain data (decimals kept as text, exact) for views and the API.

    Its size depends on the rubric, not on the history: each clause names at most `SHOWN` of its
    findings (see `shown_findings`) and says how many it has; `every=True` names them all.
    """
    score = history.score(rubric)
    signed = history.signed
    clauses_of, clean, untouched = _untouched(rubric)
    recorded = history.by_clause.keys()
    return {
        "district": district,
        "total": str(score.total),
        "signed_off": sum(1 for i in rubric.indicators if i.id in signed),
        "categories": [
            {
                "id": c.id, "name": c.name, "points": str(c.points), "score": str(c.score),
                "indicators": [
                    # An indicator nothing was ever recorded on reads the same in every district: built once.
                    untouched[(i.id, i.id in signed)] if i is clean[i.id] and recorded.isdisjoint(clauses_of[i.id])
                    else _indicator(rubric, i, i.id in signed, history, every)
                    for i in c.indicators
                ],
            }
            for c in score.categories
        ],
    }


def _indicator(rubric: Rubric, i: IndicatorScore, signed: bool, history: DistrictHistory | None,
               every: bool) -> dict[str, Any]:
    return {
        "id": i.id, "name": i.name, "points": str(i.points), "score": str(i.score),
        "deduction": str(i.deduction), "signed_off": signed, "exempt": i.exempt, "gated": i.gated,
        "clauses": [_clause(rubric, cl, history or DistrictHistory(), every) for cl in i.clauses],
    }


def _untouched(rubric: Rubric) -> tuple[dict[str, frozenset[str]], dict[str, IndicatorScore],
                                        dict[tuple[str, bool], dict[str, Any]]]:
    """Per indicator: its clause ids, the engine's result with no findings (one object, see
    scoring.score_grouped), and its entry when nothing was recorded on it (signed off or not).
    Shared by every breakdown of the rubric: readers that change a breakdown change a copy."""
    cached = rubric.__dict__.get("_untouched_entries")
    if cached is None:
        clean = {i.id: i for i in score_grouped(rubric, {}).indicators}
        cached = ({i.id: frozenset(cl.id for cl in i.clauses) for i in rubric.indicators}, clean,
                  {(i.id, signed): _indicator(rubric, i, signed, None, False)
                   for i in clean.values() for signed in (False, True)})
        object.__setattr__(rubric, "_untouched_entries", cached)
    return cached


def _clause(rubric: Rubric, cl: ClauseScore, history: DistrictHistory, every: bool) -> dict[str, Any]:
    recorded = history.by_clause.get(cl.id, ())
    return {
        "id": cl.id, "deduction": str(cl.deduction), "exempt": cl.exempt,
        "findings": shown_findings(cl, recorded, history.ended, every), "findings_total": len(recorded),
        "counted": list(cl.counted),
        "shares": {fid: str(share) for fid, share in counted_shares(rubric.clause(cl.id), cl).items()},
    }


def shown_findings(cl: ClauseScore, recorded: Sequence[Finding], ended: Container[str], every: bool) -> list[str]:
    """The findings a clause lists: the live ones (oldest first), then those retracted or overturned, so
    the district sees what was taken back and why. A clause with more than `SHOWN` lists the ones its
    deduction rests on and the newest others up to `SHOWN` (a read then costs the same at 10 findings
    or 3,000); `every` lists them all."""
    if every or len(recorded) <= SHOWN:
        keep = None
    else:
        counted = set(cl.counted)
        others = [f.id for f in recorded if f.id not in counted]
        room = SHOWN - len(counted)
        keep = counted.union(others[-room:] if room > 0 else ())
    live = [f.id for f in cl.findings if keep is None or f.id in keep]
    return live + [f.id for f in recorded if f.id in ended and (keep is None or f.id in keep)]
