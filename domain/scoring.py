"""The scoring engine: rubric + a district's findings → breakdown and total, in exact decimals.

Pure functions, one per clause kind. Where the seed is ambiguous the reading more
favourable to the district applies (PRODUCT.md, "Rubric semantics"): only full steps of
a shortfall count, several rates compare their mean with the mean of their targets,
a flag deducts once, the newest measurement of a clause wins.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Callable, Collection, Iterable, Mapping

from domain.findings import Finding
from domain.rubric import Clause, Indicator, Rubric

ZERO = Decimal(0)
CENT = Decimal("0.01")


def display(points: Decimal) -> Decimal:
    """Round once, half-up, to 2 decimals: only for showing, never for adding up."""
    return points.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ClauseScore:
    id: str
    deduction: Decimal
    findings: tuple[Finding, ...]  # every live finding on the clause, oldest first
    counted: tuple[str, ...]  # ids of the findings the deduction rests on
    exempt: bool = False


@dataclass(frozen=True)
class IndicatorScore:
    id: str
    name: str
    points: Decimal
    score: Decimal
    deduction: Decimal
    clauses: tuple[ClauseScore, ...]
    exempt: bool = False  # an exemption finding took the whole indicator out
    gated: bool = False  # a gate finding took all its points

    def clause(self, clause_id: str) -> ClauseScore:
        return next(c for c in self.clauses if c.id == clause_id)


@dataclass(frozen=True)
class CategoryScore:
    id: str
    name: str
    points: Decimal
    score: Decimal
    indicators: tuple[IndicatorScore, ...]


@dataclass(frozen=True)
class DistrictScore:
    total: Decimal
    categories: tuple[CategoryScore, ...]

    def indicator(self, indicator_id: str) -> IndicatorScore:
        return next(i for c in self.categories for i in c.indicators if i.id == indicator_id)

    @property
    def indicators(self) -> tuple[IndicatorScore, ...]:
        return tuple(i for c in self.categories for i in c.indicators)


def score_district(
    rubric: Rubric, findings: Iterable[Finding], cancelled: Collection[str] = ()
) -> DistrictScore:
    """Score one district. `cancelled` holds ids of retracted or overturned findings."""
    by_clause: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        if finding.id not in cancelled:
            by_clause[finding.clause].append(finding)
    return score_grouped(rubric, by_clause)


def score_grouped(rubric: Rubric, by_clause: Mapping[str, list[Finding]]) -> DistrictScore:
    """Score one district from its live findings already grouped by clause, each list oldest first."""
    clean, ids = _clean_scores(rubric)
    categories = []
    for category in rubric.categories:
        # An indicator without findings scores its full points: reuse its one immutable result.
        indicators = tuple(
            clean[i.id] if by_clause.keys().isdisjoint(ids[i.id]) else score_indicator(i, by_clause)
            for i in category.indicators
        )
        score = sum((i.score for i in indicators), ZERO)
        categories.append(CategoryScore(category.id, category.name, category.points, score, indicators))
    total = sum((c.score for c in categories), ZERO)
    return DistrictScore(total, tuple(categories))


def _clean_scores(rubric: Rubric) -> tuple[dict[str, IndicatorScore], dict[str, frozenset[str]]]:
    """Per indicator: its result with no findings, and its clause ids (computed once per rubric)."""
    cached = rubric.__dict__.get("_clean_scores")
    if cached is None:
        cached = (
            {i.id: score_indicator(i, {}) for i in rubric.indicators},
            {i.id: frozenset(c.id for c in i.clauses) for i in rubric.indicators},
        )
        object.__setattr__(rubric, "_clean_scores", cached)
    return cached


def score_indicator(indicator: Indicator, by_clause: Mapping[str, list[Finding]]) -> IndicatorScore:
    exempt_clauses: set[str] = set()
    indicator_exempt = False
    gated = False
    for clause in indicator.clauses:
        if clause.kind == "gate" and any(by_clause.get(c) for c in clause.triggered_by):
            gated = True
        if not by_clause.get(clause.id):
            continue
        if clause.kind == "exemption":
            if clause.exempts == "indicator":
                indicator_exempt = True
            else:
                exempt_clauses.update(clause.exempts or ())
        elif clause.kind == "gate":
            gated = True
    clause_scores = []
    for clause in indicator.clauses:
        live = tuple(by_clause.get(clause.id, ()))
        exempt = indicator_exempt or clause.id in exempt_clauses
        # 3.1.b: participation below 50% only counts where a competition was organised.
        void = any(by_clause.get(c) for c in clause.void_when)
        if exempt or void or not live:
            clause_scores.append(ClauseScore(clause.id, ZERO, live, (), exempt))
            continue
        deduction, counted = CLAUSE_RULES[clause.kind](clause, live)
        clause_scores.append(ClauseScore(clause.id, min(deduction, clause.points), live, counted))
    if indicator_exempt:
        deduction = ZERO
    elif gated:
        deduction = indicator.points
    else:
        deduction = min(indicator.points, sum((c.deduction for c in clause_scores), ZERO))
    return IndicatorScore(
        id=indicator.id,
        name=indicator.name,
        points=indicator.points,
        score=indicator.points - deduction,
        deduction=deduction,
        clauses=tuple(clause_scores),
        exempt=indicator_exempt,
        gated=gated and not indicator_exempt,
    )


Rule = Callable[[Clause, tuple[Finding, ...]], tuple[Decimal, tuple[str, ...]]]


def flag_deduction(clause: Clause, findings: tuple[Finding, ...]) -> tuple[Decimal, tuple[str, ...]]:
    """A missing item deducts its points once, however often it is recorded."""
    return clause.points, (findings[0].id,)


def occurrence_deduction(clause: Clause, findings: tuple[Finding, ...]) -> tuple[Decimal, tuple[str, ...]]:
    """Each occurrence deducts `per`, up to the clause's cap (每少一次扣0.5分 … 扣完为止)."""
    assert clause.per is not None
    counted = findings[: _occurrences_to_cap(clause)]
    return clause.per * len(counted), tuple(f.id for f in counted)


def _occurrences_to_cap(clause: Clause) -> int:
    assert clause.per is not None
    # ceil(points / per): the occurrences that still cost something before the cap.
    return int((clause.points / clause.per).to_integral_value(rounding=ROUND_CEILING))


def tiered_deduction(clause: Clause, findings: tuple[Finding, ...]) -> tuple[Decimal, tuple[str, ...]]:
    """A count earns the points of the highest tier it reaches; the rest is deducted."""
    newest = findings[-1]
    count = newest.measures[clause.measures[0].key]
    earned = next(t.earn for t in clause.tiers if count >= t.min)
    return clause.points - earned, (newest.id,)


def threshold_deduction(clause: Clause, findings: tuple[Finding, ...]) -> tuple[Decimal, tuple[str, ...]]:
    """A rate below the threshold loses the clause; reaching it (达到…以上) keeps it."""
    assert clause.threshold is not None
    newest = findings[-1]
    value = newest.measures[clause.measures[0].key]
    return (clause.points if value < clause.threshold else ZERO), (newest.id,)


def shortfall_deduction(clause: Clause, findings: tuple[Finding, ...]) -> tuple[Decimal, tuple[str, ...]]:
    """Full steps of the mean value below the mean target, `per` each.

    Compared on sums (Σtargets − Σvalues against step × n) so no division can round:
    79.5% against 80% is no full step; 77.9% is 2 steps of 1%.
    """
    assert clause.step is not None and clause.per is not None
    newest = findings[-1]
    targets = sum((m.target or ZERO for m in clause.measures), ZERO)
    values = sum((newest.measures[m.key] for m in clause.measures), ZERO)
    gap = targets - values
    if gap <= 0:
        return ZERO, (newest.id,)
    steps = gap // (clause.step * len(clause.measures))
    return steps * clause.per, (newest.id,)


def slots_deduction(clause: Clause, findings: tuple[Finding, ...]) -> tuple[Decimal, tuple[str, ...]]:
    """Each missing item of each slot type deducts `per` (典型5个：2个行业、2个企业、1个区域)."""
    assert clause.per is not None
    newest = findings[-1]
    missing = sum(
        (max(ZERO, (m.required or ZERO) - newest.measures[m.key]) for m in clause.measures), ZERO
    )
    return missing * clause.per, (newest.id,)


def _no_deduction(clause: Clause, findings: tuple[Finding, ...]) -> tuple[Decimal, tuple[str, ...]]:
    # Exemptions act on the indicator or other clauses (see score_indicator), never deduct.
    return ZERO, tuple(f.id for f in findings)


def counted_shares(clause: Clause, score: ClauseScore) -> dict[str, Decimal]:
    """Each counted finding's share of its clause's deduction (what a dispute of it puts at stake).

    Occurrences cost `per` each, the last one what is left under the cap; every other kind rests its
    deduction on the one finding it counts. The shares add up to the clause's deduction.
    """
    if not score.counted or not score.deduction:
        return {}
    if clause.kind != "occurrence":
        return {score.counted[0]: score.deduction}
    assert clause.per is not None
    shares, left = {}, score.deduction
    for finding_id in score.counted:
        shares[finding_id] = min(clause.per, left)
        left -= shares[finding_id]
    return shares


CLAUSE_RULES: dict[str, Rule] = {
    "flag": flag_deduction,
    "occurrence": occurrence_deduction,
    "tiered": tiered_deduction,
    "threshold": threshold_deduction,
    "shortfall": shortfall_deduction,
    "slots": slots_deduction,
    "gate": flag_deduction,  # shown on the clause; score_indicator takes the whole indicator
    "exemption": _no_deduction,
}
