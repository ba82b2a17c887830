"""Read-your-writes per caller (api.service.own_writes): a read waits for what its own caller wrote, not for
everyone's writes; the views a read sees never go back; another caller asks for a position with
Kaohe-Read-After (the API) or the `kaohe_written` cookie (pages)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from api.asgi import create_app
from api.service.application import READ_WAIT
from api.service.bootstrap import assemble
from api.service.own_writes import reading_for
from api.service.writes import YEAR_RECHECK
from domain.actors import Actor
from tests.conftest import ADMIN, YEAR

FINDING = {"clause": "8.2.b", "occurred_on": "2018-03-01"}  # −0.5
OFFICE = Actor("office", "office")


def total(api, who: str, district: str = "中山区", **headers: str) -> Decimal:
    r = api.client.get(f"/api/years/{YEAR}/districts/{district}/score", headers={**api.headers(who), **headers})
    assert r.status_code == 200, r.text
    return Decimal(str(r.json()["total"]))


def test_a_read_waits_for_its_callers_own_writes_and_not_for_another_callers(api, app, year_2018):
    assert total(api, "auditor") == total(api, "office") == 100  # both tokens known, the views caught up
    app.runner.stop()  # from here the views move only when a read has a write of its caller's to wait for
    r = api.post("office", f"/years/{YEAR}/districts/中山区/findings", FINDING)
    assert r.status_code == 201, r.text
    position = int(r.headers["Kaohe-Position"])

    started = time.monotonic()
    assert total(api, "auditor") == 100  # the auditor wrote nothing: answered from the views as they are
    assert time.monotonic() - started < READ_WAIT / 2  # … at once, not after waiting for the office's write
    assert total(api, "office") == Decimal("99.5")  # the writer's own read shows its write
    assert total(api, "auditor") == Decimal("99.5")  # and the views never go back

    r = api.post("office", f"/years/{YEAR}/districts/中山区/findings", FINDING)
    assert total(api, "auditor") == Decimal("99.5")
    assert total(api, "auditor", **{"Kaohe-Read-After": r.headers["Kaohe-Position"]}) == 99  # asked for it
    assert int(r.headers["Kaohe-Position"]) > position


def test_group_committed_writers_each_read_their_own_write(api, app, year_2018, make_headers):
    """Findings saved together in one transaction (the findings route's group commit): each command's caller
    reads what the batch wrote; another caller does not wait for it."""
    second = make_headers("office", name="办公室二")
    total(api, "office")
    api.client.get(f"/api/years/{YEAR}/scores", headers=second)
    app.runner.stop()
    office, other = OFFICE, Actor("办公室二", "office")
    answers = app.run_together([
        lambda: app.record_finding(office, year=YEAR, district="西岗区", **FINDING),
        lambda: app.record_finding(other, year=YEAR, district="沙河口区", **FINDING),
    ])
    assert all("receipt" in a for a in answers)
    assert app.own_writes.of(office, 0) == app.own_writes.of(other, 0) == app.written_position
    assert total(api, "auditor", "沙河口区") == 100
    r = api.client.get(f"/api/years/{YEAR}/districts/沙河口区/score", headers=second)
    assert Decimal(str(r.json()["total"])) == Decimal("99.5")


def test_a_final_ranking_read_by_another_caller_holds_every_write_before_the_close(api, app, year_2018,
                                                                                   monkeypatch):
    """The year aggregate shows a close as soon as it is read from the store, the views once they catch up: a
    read that waits for no write of its caller's still never says "final" over figures from before the close."""
    assert api.totals()["中山区"] == 100
    app.runner.stop()
    closer = assemble(dict(app.env), follow=False)  # another process: its writes, not yet in the views
    monkeypatch.setattr(closer, "fresh", lambda after=None: None)  # (its own reads would catch them up)
    try:
        closer.record_finding(OFFICE, year=YEAR, district="中山区", **FINDING)
        closer.close_year(ADMIN, year=YEAR, force=True)
    finally:
        closer.close()
    time.sleep(YEAR_RECHECK + 0.05)  # this process looks at the year in the store again
    # (Through the service: over HTTP the score middleware answers the ranking it remembered for these views,
    # final and figures alike from before the close: old but never mixed.)
    auditor = Actor("auditor", "auditor")
    answer = reading_for(auditor, lambda: app.scores(auditor, YEAR))
    assert answer["final"] is True
    assert {d["district"]: d["total"] for d in answer["districts"]}["中山区"] == Decimal("99.5")


def test_an_idempotent_retry_on_another_server_answers_a_position_that_shows_the_write(store_pair, auth):
    """A retry with the same Idempotency-Key on another process answers the first write; its Kaohe-Position
    must not be below that write, or a read passing it back could miss it."""
    here, there = store_pair
    body = {"clause": "8.2.b", "occurred_on": "2018-03-01"}
    headers = {**auth["office"], "Idempotency-Key": "retry-1"}
    first = here.post(f"/api/years/{YEAR}/districts/中山区/findings", json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = there.post(f"/api/years/{YEAR}/districts/中山区/findings", json=body, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replay"] == "true"
    assert int(again.headers["Kaohe-Position"]) >= int(first.headers["Kaohe-Position"])
    r = there.get(f"/api/years/{YEAR}/districts/中山区/score",
                  headers={**auth["auditor"], "Kaohe-Read-After": again.headers["Kaohe-Position"]})
    assert r.json()["total"] == 99.5


@pytest.fixture
def store_pair(app, client, year_2018):
    """Two server processes' worth of service on one store: the test's `app` (behind `client`) and another."""
    other = assemble(dict(app.env))
    try:
        with TestClient(create_app(other)) as there:
            yield client, there
    finally:
        other.close()
