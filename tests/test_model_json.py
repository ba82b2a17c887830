"""A breakdown's JSON written without building its pydantic model is the model's own JSON (api.http.model_json).

Random histories (the strategy of tests/test_history_readers.py), each breakdown the API answers (the kept
clauses, every finding, as of an instant) compared with `Breakdown.model_validate(...).model_dump_json()`;
and through HTTP, the answer parses to the same value.
"""

from __future__ import annotations

from decimal import Decimal

import orjson
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from api.asgi import create_app
from api.http import model_json
from api.http import models as m
from tests.test_history_readers import ADMIN, DISTRICTS, YEAR, history_steps, played

ENCODE = model_json.encoder(m.Breakdown)


def pydantic_json(answer: dict) -> bytes:
    return m.Breakdown.model_validate(answer).model_dump_json(exclude_unset=True).encode()


def same_json(a: bytes, b: bytes) -> bool:
    """The same JSON text up to key order (so 1, 1.0 and true stay apart, as parsed values would not)."""
    def canonical(x: bytes) -> bytes:
        return orjson.dumps(orjson.loads(x), option=orjson.OPT_SORT_KEYS)
    return canonical(a) == canonical(b)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=history_steps())
def test_the_breakdown_json_is_the_models_for_random_histories(history):
    with played(history) as app:
        for d in DISTRICTS:
            for answer in (app.district_score(ADMIN, YEAR, d), app.district_score(ADMIN, YEAR, d, every_finding=True),
                           app.district_score(ADMIN, YEAR, d, as_of="2100-01-01")):
                assert same_json(ENCODE(answer), pydantic_json(answer))


def test_points_are_rounded_numbers_and_other_fields_pass_unchanged():
    answer = {"year": 2018, "district": "中山区", "total": "92.125", "signed_off": 3, "as_of": None, "extra": "kept",
              "categories": [{"id": "1", "name": "组织建设", "points": Decimal("20"), "score": 2.675,
                              "indicators": []}]}
    assert same_json(ENCODE(answer), pydantic_json(answer))
    assert orjson.loads(ENCODE(answer)) == {
        **answer, "total": 92.13, "categories": [{**answer["categories"][0], "points": 20.0, "score": 2.68}]}


def test_through_http_the_breakdown_is_what_the_model_writes(app, year_2018, auth):
    from domain.actors import Actor

    office = Actor("办公室", "office")
    for clause, day in (("8.2.b", "2018-03-01"), ("8.2.b", "2018-03-02"), ("8.3.c", None)):
        app.record_finding(office, year=year_2018, district="中山区", clause=clause, occurred_on=day)
    app.fresh()  # the auditor reads them a moment later (its read waits only for its own writes)
    with TestClient(create_app(app)) as client:
        for query in ("", "?findings=all", "?as_of=2100-01-01"):
            got = client.get(f"/api/years/{year_2018}/districts/中山区/score{query}",
                             headers=auth["auditor"])
            assert got.status_code == 200, got.text
            expected = app.district_score(ADMIN, year_2018, "中山区", every_finding=query == "?findings=all",
                                          as_of="2100-01-01" if "as_of" in query else None)
            assert same_json(got.content, pydantic_json(expected))
            assert got.json()["total"] < 100  # the findings deduct: a real answer, not an empty one
