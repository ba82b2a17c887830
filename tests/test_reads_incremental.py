"""What the views keep so reads cost the same at any history length, checked against a fresh fold.

After every write of a random history (Hypothesis, small sizes; findings, retractions, disputes
upheld and overturned, sign-offs): a district's breakdown read from the views equals the one a
fresh `DistrictHistory` fold of the stored events gives (through `scoring`), clause by clause with
the findings it shows; and the ranking kept in memory, with the JSON made again from the lines
that changed, equals a full rescore of every district. Through the service and through HTTP, on
both stores. `SHOWN` is lowered so short histories already exceed it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.http import models as m
from api.http import ranking_json
from api.service import KaoheApp
from api.service.history import fast_histories
from api.service.reads.scores import rank
from domain.actors import Actor
from domain.errors import Conflict
from domain.scoring import display
from projections import scoreboard
from projections.scoreboard import breakdown
from tests.conftest import DISTRICTS, YEAR
from tests.test_history_readers import history_steps

ADMIN = Actor("admin", "admin")
OFFICE = Actor("办公室", "office")
SHOWN = 2
STEPS = history_steps(findings=40, most=12)
# The examples of one test share its store: each adds to the history the earlier ones left.
EXAMPLES = settings(max_examples=6, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture
def few_shown(monkeypatch):
    monkeypatch.setattr(scoreboard, "SHOWN", SHOWN)


def fresh_fold(app: KaoheApp, every: bool = False) -> dict[str, Any]:
    """Every district's breakdown from the stored events, folded afresh (not from the views)."""
    rubric = app.rubric_of_year(YEAR)
    return {d: (breakdown(rubric, d, history, every=every), history)
            for d, history in fast_histories(app, YEAR).items()}


def expected_breakdown(result: dict[str, Any], history: Any) -> dict[str, Any]:
    """What a breakdown read must say, reduced to comparable facts (points as shown, to two decimals)."""
    return {
        "total": display(Decimal(result["total"])), "signed_off": result["signed_off"],
        "clauses": {cl["id"]: (display(Decimal(cl["deduction"])), cl["findings_total"],
                               [(fid, history.status(fid).value, fid in cl["counted"],
                                 display(Decimal(cl["shares"].get(fid, "0")))) for fid in cl["findings"]])
                    for c in result["categories"] for i in c["indicators"] for cl in i["clauses"]},
        "indicators": {i["id"]: display(Decimal(i["score"])) for c in result["categories"] for i in c["indicators"]},
    }


def read_breakdown(answer: dict[str, Any]) -> dict[str, Any]:
    """The same facts from a breakdown as the service or the JSON API answers it."""
    def points(value: Any) -> Decimal:
        return display(Decimal(str(value)))

    return {
        "total": points(answer["total"]), "signed_off": answer["signed_off"],
        "clauses": {cl["id"]: (points(cl["deduction"]), cl["findings_total"],
                               [(f["id"], f["status"], f["counted"], points(f["points"])) for f in cl["findings"]])
                    for c in answer["categories"] for i in c["indicators"] for cl in i["clauses"]},
        "indicators": {i["id"]: points(i["score"]) for c in answer["categories"] for i in c["indicators"]},
    }


def full_rescore(app: KaoheApp, folded: dict[str, Any]) -> bytes:
    """The ranking's JSON from every district rescored, rendered whole by the model."""
    ranked = rank([result for result, _ in folded.values()], list(DISTRICTS))
    head, _ = app.ranking(OFFICE, YEAR)
    return m.Ranking.model_validate({**head, "districts": [
        {"district": r["district"], "total": Decimal(r["total"]), "rank": r["rank"], "signed_off": r["signed_off"],
         "categories": {c["id"]: Decimal(c["score"]) for c in r["categories"]}} for r in ranked]}).model_dump_json(
    ).encode()


class Service:
    """A random history's steps through the application service."""

    def __init__(self, app: KaoheApp):
        self.app = app
        self.findings: list[tuple[str, str]] = []  # (district, id)
        self.disputes: list[str] = []

    def step(self, step: tuple) -> str | None:
        """Play one step; return the district it wrote to (None: the lifecycle refused it, or nothing to do)."""
        app = self.app
        try:
            if step[0] == "record":
                _, district, (clause, day) = step
                self.findings.append((district, app.record_finding(OFFICE, year=YEAR, district=district,
                                                                   clause=clause, occurred_on=day)["id"]))
                return district
            if step[0] == "retract" and self.findings:
                district, fid = self.findings[step[1] % len(self.findings)]
                app.retract_finding(OFFICE, year=YEAR, finding_id=fid, reason="错录")
                return district
            if step[0] == "dispute" and self.findings:
                district, fid = self.findings[step[1] % len(self.findings)]
                who = Actor(f"{district}总工会", "district", district=district)
                self.disputes.append(app.file_dispute(who, year=YEAR, finding_id=fid, statement="已参加")["id"])
                return district
            if step[0] == "resolve" and self.disputes:
                app.resolve_dispute(OFFICE, year=YEAR, dispute_id=self.disputes[step[1] % len(self.disputes)],
                                    decision=step[2], reason="核实")
                return "resolved"
            if step[0] == "sign_off":
                app.sign_off(OFFICE, year=YEAR, district=step[1], indicator=step[2])
                return step[1]
        except Conflict:
            pass
        return None


@EXAMPLES
@given(history=STEPS)
def test_after_every_write_the_views_equal_a_fresh_fold(app, year_2018, few_shown, history):
    steps = Service(app)
    renderer = ranking_json.RankingJSON()  # kept across writes, as the route keeps it
    for step in history:
        steps.step(step)
        folded = fresh_fold(app)
        for district, (result, folded_history) in folded.items():
            assert read_breakdown(app.district_score(ADMIN, YEAR, district)) == expected_breakdown(
                result, folded_history)
        # The ranking kept in memory against every district rescored, and its JSON against the model's.
        assert renderer.render(*app.ranking(OFFICE, YEAR, ranking_json.line)) == full_rescore(app, folded)
        ranked = rank([result for result, _ in folded.values()], list(DISTRICTS))
        assert [(r["district"], r["total"], r["rank"]) for r in app.scores(OFFICE, YEAR)["districts"]] == [
            (r["district"], Decimal(r["total"]), r["rank"]) for r in ranked]


class Http:
    """The same steps through the JSON API, as the roles that may take them."""

    def __init__(self, api: Any):
        self.api = api
        self.findings: list[tuple[str, str]] = []
        self.disputes: list[str] = []

    def step(self, step: tuple) -> None:
        y = f"/years/{YEAR}"
        if step[0] == "record":
            _, district, (clause, day) = step
            body = {"clause": clause, **({"occurred_on": day} if day else {})}
            r = self.api.post("office", f"{y}/districts/{district}/findings", body)
            assert r.status_code == 201, r.text
            self.findings.append((district, r.json()["id"]))
        elif step[0] == "retract" and self.findings:
            fid = self.findings[step[1] % len(self.findings)][1]
            r = self.api.post("office", f"{y}/findings/{fid}/retraction", {"reason": "错录"})
            assert r.status_code in (201, 409), r.text
        elif step[0] == "dispute" and self.findings:
            district, fid = self.findings[step[1] % len(self.findings)]
            r = self.api.post(district, f"{y}/findings/{fid}/disputes", {"statement": "已参加"})
            assert r.status_code in (201, 409), r.text
            if r.status_code == 201:
                self.disputes.append(r.json()["id"])
        elif step[0] == "resolve" and self.disputes:
            did = self.disputes[step[1] % len(self.disputes)]
            r = self.api.post("office", f"{y}/disputes/{did}/resolution", {"decision": step[2], "reason": "核实"})
            assert r.status_code in (201, 409), r.text
        elif step[0] == "sign_off":
            r = self.api.post("office", f"{y}/districts/{step[1]}/signoffs", {"indicator": step[2]})
            assert r.status_code in (201, 409), r.text


@EXAMPLES
@given(history=STEPS)
def test_through_http_after_every_write_the_answers_equal_a_fresh_fold(app, year_2018, api, few_shown, history):
    steps = Http(api)
    for step in history:
        steps.step(step)
        folded, every = fresh_fold(app), fresh_fold(app, every=True)
        for district, (result, folded_history) in folded.items():
            r = api.get(district, f"/years/{YEAR}/districts/{district}/score")  # the district reads its own
            assert r.status_code == 200, r.text
            assert read_breakdown(r.json()) == expected_breakdown(result, folded_history)
            r = api.get("auditor", f"/years/{YEAR}/districts/{district}/score", findings="all")
            assert read_breakdown(r.json()) == expected_breakdown(*every[district])
        r = api.get("auditor", f"/years/{YEAR}/scores")
        assert r.status_code == 200 and r.content == full_rescore(app, folded)


def test_a_clause_with_many_findings_lists_the_counted_and_the_newest(app, year_2018, api, few_shown):
    ids = [api.post("office", f"/years/{YEAR}/districts/中山区/findings", {"clause": "8.3.c"}).json()["id"]
           for _ in range(5)]
    assert api.post("office", f"/years/{YEAR}/findings/{ids[0]}/retraction", {"reason": "错录"}).status_code == 201
    clause = next(cl for c in api.get("中山区", f"/years/{YEAR}/districts/中山区/score").json()["categories"]
                  for i in c["indicators"] for cl in i["clauses"] if cl["id"] == "8.3.c")
    # A flag deducts once, on its first live finding; the newest other one fills the second place shown.
    assert clause["findings_total"] == 5 and clause["deduction"] == 1
    assert [(f["id"], f["counted"], f["status"]) for f in clause["findings"]] == [
        (ids[1], True, "live"), (ids[4], False, "live")]
    every = next(cl for c in api.get("中山区", f"/years/{YEAR}/districts/中山区/score", findings="all").json()[
        "categories"] for i in c["indicators"] for cl in i["clauses"] if cl["id"] == "8.3.c")
    assert [f["id"] for f in every["findings"]] == ids[1:] + ids[:1]  # live ones first, then the retracted


class FakeViews:
    """view_districts as the ranking reads it: (district, summary, scored_at) rows."""

    def __init__(self):
        self.rows: dict[str, tuple[str, int]] = {}

    def query(self, sql: str, params: tuple) -> list[tuple]:
        return [(d, summary, stamp) for d, (summary, stamp) in self.rows.items() if stamp > params[1]]


MANY = [f"D{i}" for i in range(8)]


@settings(max_examples=60, deadline=None)
@given(moves=st.lists(st.tuples(st.sampled_from(MANY), st.sampled_from(["100", "99.5", "99", "98.25"]),
                                st.integers(0, 8)), min_size=1, max_size=30))
def test_the_kept_ranking_and_its_pieces_equal_a_full_ranking_after_every_move(moves):
    """Many districts, few totals (long ties): each move of one district against `rank()` and the model."""
    import orjson

    from api.service.reads.ranking import YearRanking

    views, board, renderer = FakeViews(), YearRanking(YEAR, MANY, ranking_json.line), ranking_json.RankingJSON()
    for stamp, (district, total, signed) in enumerate(moves, start=1):
        summary = {"district": district, "total": total, "signed_off": signed,
                   "categories": [{"id": "1", "score": total}]}
        views.rows[district] = (orjson.dumps(summary).decode(), stamp)
        ranked = board.read(views)
        full = rank([orjson.loads(s) for s, _ in views.rows.values()], MANY)
        assert [(r.district, r.total, place) for place, tie in ranked for r in tie.rows] == [
            (r["district"], Decimal(r["total"]), r["rank"]) for r in full]
        head = {"year": YEAR, "final": False, "as_of": None, "digest": None, "log": None, "indicators": 1}
        assert renderer.render(head, ranked) == m.Ranking.model_validate({**head, "districts": [
            {"district": r["district"], "total": Decimal(r["total"]), "rank": r["rank"],
             "signed_off": r["signed_off"], "categories": {"1": Decimal(r["total"])}} for r in full]}
        ).model_dump_json().encode()
