"""PostgreSQL group commit reads cached aggregates without a query each, yet never decides on a stale one.

Two services on one store, as two servers are: what one writes, the other's next batch sees (its one look
at the store finds the ledger behind and fast-forwards it); a ledger nobody else wrote is read from the
cache with no query; and a write that slips in between the look and the save makes the batch conflict,
so every command runs again alone and everything acknowledged is stored once.
"""

from __future__ import annotations

import pytest

from api.service import KaoheApp
from domain.actors import Actor
from domain.ledger import ledger_id
from tests.test_log_integration import _url

OFFICE = Actor("办公室", "office")
YEAR = 2018


@pytest.fixture
def two(app, year_2018):
    if not app.views.is_postgres:
        pytest.skip("one writing process on SQLite: its cache never fast-forwards")
    other = KaoheApp.from_url(_url(app), POSTGRES_SCHEMA=app.env.get("POSTGRES_SCHEMA"))
    try:
        yield app, other
    finally:
        other.close()


def finding(service: KaoheApp, district: str, day: int):
    return lambda: service.record_finding(OFFICE, year=YEAR, district=district, clause="8.2.b",
                                          occurred_on=f"2018-05-{day:02d}")


def stored_findings(service: KaoheApp, district: str) -> list[str]:
    ledger = service.repository.get(ledger_id(YEAR, district))
    return list(ledger.history.findings)


def count_fast_forwards(service: KaoheApp, monkeypatch) -> list:
    seen: list = []
    store = service.repository.event_store
    real = store.get
    monkeypatch.setattr(store, "get", lambda *a, **k: seen.append(k.get("originator_id")) or real(*a, **k))
    return seen


def test_a_batch_sees_what_another_server_wrote_and_queries_only_for_that(two, monkeypatch):
    here, there = two
    there.run_together([finding(there, "中山区", 1), finding(there, "西岗区", 1)])
    here.run_together([finding(here, "中山区", 1), finding(here, "西岗区", 1)])  # the first look: fast-forwards all
    here.run_together([finding(here, "中山区", 2), finding(here, "西岗区", 2)])  # both cached and current here
    there.record_finding(OFFICE, year=YEAR, district="中山区", clause="8.2.b", occurred_on="2018-05-05")

    gets = count_fast_forwards(here, monkeypatch)
    answers = here.run_together([finding(here, "中山区", 3), finding(here, "西岗区", 3)])
    assert all(isinstance(a, dict) for a in answers), answers
    ledgers = {ledger_id(YEAR, d) for d in ("中山区", "西岗区")}  # (the year is looked at on its own clock)
    assert [g for g in gets if g in ledgers] == [ledger_id(YEAR, "中山区")]  # the one moved on elsewhere, only it
    monkeypatch.undo()
    zhongshan = stored_findings(there, "中山区")
    assert len(zhongshan) == 5 and answers[0]["id"] in zhongshan  # 1 there, 2 here, 1 there alone, this one
    assert here.verify(YEAR)["ok"]


def test_a_write_between_the_look_and_the_save_sends_the_batch_round_alone(two, monkeypatch):
    here, there = two
    here.run_together([finding(here, "中山区", 1)])
    here.run_together([finding(here, "中山区", 2)])  # the horizon has looked; 中山区 is cached here
    real = here._horizon.behind

    def look_then_someone_writes():
        behind = real()
        there.record_finding(OFFICE, year=YEAR, district="中山区", clause="8.2.b", occurred_on="2018-05-03")
        return behind

    monkeypatch.setattr(here._horizon, "behind", look_then_someone_writes)
    answers = here.run_together([finding(here, "中山区", 4), finding(here, "西岗区", 4)])
    assert all(isinstance(a, dict) for a in answers), answers
    ids = stored_findings(there, "中山区")
    assert len(ids) == len(set(ids)) == 4 and answers[0]["id"] in ids
    assert answers[1]["id"] in stored_findings(there, "西岗区")
    assert here.verify(YEAR)["ok"]
