"""The cycle's pure rules: 申报 statuses in the history fold, the dispute window, shares of a deduction, the stage grants."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from api.service.rubric_files import load_rubric
from domain.actors import Actor, can
from domain.cycle import check_days, check_dispute_window, dispute_until, stage, waiting_days, window_open
from domain.errors import Conflict, DisputeWindowClosed, InvalidInput
from domain.lifecycle import fold
from domain.scoring import counted_shares
from domain.working_days import CalendarUnknown

ACTOR = {"name": "x", "role": "district", "district": "中山区"}
SHA = "ab" * 32


def events(*items):
    return fold([(name, {**data, "actor": ACTOR}, at) for name, data, at in items])


def test_submission_statuses_follow_the_newest_submission():
    h = events(("MaterialsSubmitted", {"submission_id": "s1", "indicator": "2.1", "statement": "a", "evidence": []}, "t1"))
    assert h.submission("s1").status.value == "waiting"
    h.apply("SubmissionReturned", {"submission_id": "s1", "indicator": "2.1", "reason": "缺", "actor": ACTOR}, "t2")
    assert h.submission("s1").status.value == "returned"
    with pytest.raises(Conflict):
        h.check_returnable("s1")  # already returned
    h.apply("MaterialsSubmitted", {"submission_id": "s2", "indicator": "2.1", "statement": "b", "evidence": [],
                                   "actor": ACTOR}, "t3")
    assert h.submission("s1").superseded and not h.submission("s2").superseded
    h.apply("IndicatorSignedOff", {"indicator": "2.1", "actor": ACTOR}, "t4")
    assert (h.submission("s1").status.value, h.submission("s2").status.value) == ("returned", "reviewed")
    assert h.submission("s2").reviewed_at == "t4"
    with pytest.raises(Conflict):
        h.check_submittable("2.1")
    # a sign-off with no submission changes no submission; a returned one signed off later is reviewed
    h2 = events(("MaterialsSubmitted", {"submission_id": "s", "indicator": "3.1", "statement": "a", "evidence": []}, "t"),
                ("SubmissionReturned", {"submission_id": "s", "indicator": "3.1", "reason": "r"}, "t"),
                ("IndicatorSignedOff", {"indicator": "3.1"}, "t"), ("IndicatorSignedOff", {"indicator": "2.2"}, "t"))
    assert h2.submission("s").status.value == "reviewed"


def test_evidence_references_are_checked_against_the_uploads():
    h = events(("EvidenceUploaded", {"sha256": SHA, "size": 3, "media_type": "application/pdf", "filename": "a.pdf"}, "t"))
    assert h.check_evidence([f"sha256:{SHA.upper()}", "纸质"]) == [f"sha256:{SHA}", "纸质"]
    for bad in (["sha256:" + "cd" * 32], ["sha256:nothex"], ["SHA256:"]):
        with pytest.raises(InvalidInput) as refused:
            h.check_evidence(bad)
        assert refused.value.field == "evidence"


def test_the_window_is_the_later_of_its_own_and_the_publication():
    at = "2018-09-28T02:00:00.000000+00:00"
    assert dispute_until(at, 10, None) == date(2018, 10, 17)
    assert dispute_until(at, 10, "2018-12-10") == date(2018, 12, 10)
    assert dispute_until(at, 10, "2018-10-01") == date(2018, 10, 17)
    check_dispute_window(at, 10, None, datetime(2018, 10, 17, 15, 59, tzinfo=timezone.utc))  # 23:59 in Shanghai
    with pytest.raises(DisputeWindowClosed) as late:
        check_dispute_window(at, 10, None, datetime(2018, 10, 17, 16, 1, tzinfo=timezone.utc))
    assert late.value.code == "dispute_window_closed" and late.value.details == {"dispute_until": "2018-10-17"}


def test_past_the_known_calendar_the_window_stays_open():
    at = "2099-12-20T02:00:00+00:00"
    assert dispute_until(at, 10, None) is None
    assert window_open(None, date(2100, 1, 1))
    check_dispute_window(at, 10, None, datetime(2100, 6, 1, tzinfo=timezone.utc))  # never refused on a guess
    assert waiting_days(at, datetime(2100, 1, 5, tzinfo=timezone.utc)) is None
    assert issubclass(CalendarUnknown, Conflict) and CalendarUnknown(2099).code == "calendar_unknown"


def test_days_and_stage():
    assert check_days(1, "days") == 1
    for bad in (0, 61, True, "5", 2.0):
        with pytest.raises(InvalidInput):
            check_days(bad, "days")
    assert stage(False, None, date(2018, 12, 3)) == "open"
    assert stage(False, "2018-12-10", date(2018, 12, 10)) == "publication"
    assert stage(False, "2018-12-10", date(2018, 12, 11)) == "open"
    assert stage(True, "2018-12-10", date(2018, 12, 5)) == "closed"


def test_the_ranking_is_a_districts_during_publication_only():
    district = Actor("中山区", "district", district="中山区")
    assert not can(district, "read_ranking") and not can(district, "read_ranking", "open")
    assert can(district, "read_ranking", "publication") and not can(district, "read_ranking", "closed")
    assert can(Actor("o", "office"), "read_ranking", "open")


def test_shares_add_up_to_the_clause_deduction():
    rubric = load_rubric("dalian-2018")
    score_of = lambda clause: next(c for i in score.indicators for c in i.clauses if c.id == clause)  # noqa: E731
    from domain.findings import Finding
    from domain.scoring import score_grouped

    meetings = [Finding(id=f"m{n}", clause="8.2.b", occurred_on="2018-03-01") for n in range(5)]
    score = score_grouped(rubric, {"8.2.b": meetings, "2.2.a": [Finding(id="f", clause="2.2.a")]})
    shares = counted_shares(rubric.clause("8.2.b"), score_of("8.2.b"))
    assert shares == {f"m{n}": Decimal("0.5") for n in range(4)}  # the fifth is past the cap of 2
    assert sum(shares.values()) == score_of("8.2.b").deduction
    assert counted_shares(rubric.clause("2.2.a"), score_of("2.2.a")) == {"f": Decimal(2)}
