"""Properties of the scoring engine over random histories of findings on the real rubric.

Random findings on random clauses of `dalian-2018` (flags, dated occurrences, gates,
exemptions, measurements: rates 0..100 with one decimal, counts 0..60) and random
retractions: every score stays within its bounds, the total is the exact sum of the
indicator scores, and every value is an exact Decimal with at most 2 decimal places.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from api.service.rubric_files import load_rubric
from domain.findings import Finding, check_measures
from domain.rubric import Clause
from domain.scoring import DistrictScore, display, score_district

RUBRIC = load_rubric("dalian-2018")
CLAUSES = tuple(c for i in RUBRIC.indicators for c in i.clauses)
ZERO = Decimal(0)
HUNDRED = Decimal(100)


def measure_value(unit: str) -> st.SearchStrategy[Decimal]:
    if unit == "%":
        return st.integers(0, 1000).map(lambda tenths: Decimal(tenths) / Decimal(10))
    return st.integers(0, 60).map(Decimal)


def facts(clause: Clause) -> st.SearchStrategy[tuple[Clause, date | None, dict[str, Decimal]]]:
    occurred_on = (
        st.dates(date(2018, 1, 1), date(2018, 12, 31)) if clause.kind == "occurrence" else st.none()
    )
    measures = st.fixed_dictionaries({m.key: measure_value(m.unit) for m in clause.measures})
    return st.tuples(st.just(clause), occurred_on, measures)


@st.composite
def histories(draw) -> tuple[list[Finding], frozenset[str]]:
    raw = draw(st.lists(st.sampled_from(CLAUSES).flatmap(facts), max_size=40))
    findings = []
    for n, (clause, occurred_on, measures) in enumerate(raw, 1):
        findings.append(
            Finding(
                id=f"f{n}",
                clause=clause.id,
                occurred_on=occurred_on,
                # the domain's own check: valid measures, exact decimals
                measures=check_measures(clause, measures),
            )
        )
    ids = [f.id for f in findings]
    cancelled = draw(st.sets(st.sampled_from(ids))) if ids else set()
    return findings, frozenset(cancelled)


def two_places(value: object) -> bool:
    return (
        isinstance(value, Decimal)
        and value.is_finite()
        and value.as_tuple().exponent >= -2
        and value == display(value)
    )


def check_bounds(result: DistrictScore) -> None:
    assert isinstance(result.total, Decimal)
    assert ZERO <= result.total <= HUNDRED
    assert two_places(result.total), result.total
    indicator_sum = ZERO
    for category in result.categories:
        assert two_places(category.score), (category.id, category.score)
        assert category.score == sum((i.score for i in category.indicators), ZERO)
        assert ZERO <= category.score <= category.points
        for indicator in category.indicators:
            points = RUBRIC.indicator(indicator.id).points
            assert indicator.points == points
            assert two_places(indicator.score), (indicator.id, indicator.score)
            assert two_places(indicator.deduction), (indicator.id, indicator.deduction)
            assert ZERO <= indicator.score <= points, (indicator.id, indicator.score)
            assert indicator.score == points - indicator.deduction
            clause_sum = ZERO
            for clause in indicator.clauses:
                assert two_places(clause.deduction), (clause.id, clause.deduction)
                assert ZERO <= clause.deduction <= RUBRIC.clause(clause.id).points, clause.id
                clause_sum += clause.deduction
            if indicator.exempt:
                assert indicator.score == points
            elif indicator.gated:
                assert indicator.score == ZERO
            else:
                assert indicator.deduction == min(points, clause_sum)
            indicator_sum += indicator.score
    assert result.total == indicator_sum
    assert result.total == sum((c.score for c in result.categories), ZERO)


@settings(max_examples=200, deadline=None)
@given(histories())
def test_scores_stay_in_bounds_and_add_up_exactly(history):
    findings, cancelled = history
    check_bounds(score_district(RUBRIC, findings, cancelled))


@settings(max_examples=100, deadline=None)
@given(histories())
def test_retracting_everything_restores_100(history):
    findings, _ = history
    result = score_district(RUBRIC, findings, {f.id for f in findings})
    assert result.total == HUNDRED
    assert all(i.score == i.points for i in result.indicators)


DEDUCTING = tuple(c for c in CLAUSES if c.kind in ("flag", "occurrence", "gate"))


@settings(max_examples=100, deadline=None)
@given(histories(), st.sampled_from(DEDUCTING))
def test_one_more_flag_or_occurrence_never_raises_a_score(history, clause):
    findings, cancelled = history
    before = score_district(RUBRIC, findings, cancelled)
    extra = Finding(
        id="extra",
        clause=clause.id,
        occurred_on=date(2018, 6, 2) if clause.kind == "occurrence" else None,
    )
    after = score_district(RUBRIC, [*findings, extra], cancelled)
    check_bounds(after)
    for old, new in zip(before.indicators, after.indicators):
        assert new.score <= old.score, old.id
        if old.id != clause.indicator_id:
            assert new.score == old.score, old.id
