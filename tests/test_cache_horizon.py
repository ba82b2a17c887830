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
# Several servers share a store only on PostgreSQL (SQLite's one writing process never fast-forwards).
pytestmark = pytest.mark.parametrize("app", ["postgres"], indirect=True)


@pytest.fixture
def two(app, year_2018):
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
    real = here._horizon.look

    def look_then_someone_writes():
        real()
        there.record_finding(OFFICE, year=YEAR, district="中山区", clause="8.2.b", occurred_on="2018-05-03")

    monkeypatch.setattr(here._horizon, "look", look_then_someone_writes)
    answers = here.run_together([finding(here, "中山区", 4), finding(here, "西岗区", 4)])
    assert all(isinstance(a, dict) for a in answers), answers
    ids = stored_findings(there, "中山区")
    assert len(ids) == len(set(ids)) == 4 and answers[0]["id"] in ids
    assert answers[1]["id"] in stored_findings(there, "西岗区")
    assert here.verify(YEAR)["ok"]


def saves_refused(service: KaoheApp, monkeypatch) -> list:
    """Every batch save refused for a conflict (each sends its commands round alone)."""
    from eventsourcing.persistence import IntegrityError

    refused: list = []
    real = service.save

    def save(*objs, **kwargs):
        try:
            return real(*objs, **kwargs)
        except IntegrityError:
            refused.append(len(objs))
            raise

    monkeypatch.setattr(service, "save", save)
    return refused


def test_a_ledger_another_server_moved_on_stays_stale_until_read_again(two, monkeypatch):
    # The look that finds it behind may come in a batch that does not touch it: a later batch must still
    # fast-forward it (found in review: it was forgotten, and the later batch conflicted).
    here, there = two
    here.run_together([finding(here, "中山区", 1), finding(here, "西岗区", 1)])
    here.run_together([finding(here, "中山区", 2), finding(here, "西岗区", 2)])
    there.record_finding(OFFICE, year=YEAR, district="西岗区", clause="8.2.b", occurred_on="2018-05-03")
    here.run_together([finding(here, "中山区", 4)])  # looks, finds 西岗区 behind, does not touch it
    refused = saves_refused(here, monkeypatch)
    answers = here.run_together([finding(here, "中山区", 5), finding(here, "西岗区", 5)])
    assert all(isinstance(a, dict) for a in answers) and refused == []
    assert len(stored_findings(there, "西岗区")) == 4


def test_what_was_cached_before_the_first_look_is_not_trusted(two, monkeypatch):
    here, there = two
    here.record_finding(OFFICE, year=YEAR, district="西岗区", clause="8.2.b", occurred_on="2018-05-01")  # cached
    there.record_finding(OFFICE, year=YEAR, district="西岗区", clause="8.2.b", occurred_on="2018-05-02")
    here.run_together([finding(here, "中山区", 3)])  # the first look
    refused = saves_refused(here, monkeypatch)
    answers = here.run_together([finding(here, "中山区", 4), finding(here, "西岗区", 4)])
    assert all(isinstance(a, dict) for a in answers) and refused == []
    assert len(stored_findings(there, "西岗区")) == 3


def test_other_threads_fast_forward_while_a_batch_runs(two):
    # Only the batch's own commands read ledgers as the look left them; a read on another thread meanwhile
    # (a page, `year_info(after=…)`) still sees another server's latest write.
    import threading

    here, there = two
    here.run_together([finding(here, "中山区", 1), finding(here, "西岗区", 1)])
    here.run_together([finding(here, "中山区", 2), finding(here, "西岗区", 2)])  # looked; both current, cached
    seen: list[int] = []

    def command_during_which_another_thread_reads():
        there.record_finding(OFFICE, year=YEAR, district="西岗区", clause="8.2.b", occurred_on="2018-05-03")
        reader = threading.Thread(target=lambda: seen.append(len(here._ledger(YEAR, "西岗区").history.findings)))
        reader.start()
        reader.join()
        return finding(here, "中山区", 3)()

    answers = here.run_together([command_during_which_another_thread_reads])
    assert isinstance(answers[0], dict)
    assert seen == [3]  # 西岗区's two from here and the one the other server wrote after the look


def test_a_batched_command_that_reads_a_ledger_it_does_not_save_runs_alone(two, monkeypatch):
    # The rule that makes reading without fast-forward safe (its save checks the version), enforced.
    from api.service import writes

    here, there = two
    here.run_together([finding(here, "中山区", 1)])
    here.run_together([finding(here, "中山区", 2)])  # looked; 中山区 current and cached here
    raised: list = []

    class Recorded(writes.StaleRead):
        def __init__(self, *args):
            raised.append(args)
            super().__init__(*args)

    monkeypatch.setattr(writes, "StaleRead", Recorded)

    def reads_only():
        def build():
            here._ledger(YEAR, "中山区")
            return [], {"read": True}
        return here._write(OFFICE, "read_only_probe", {}, build)

    answers = here.run_together([reads_only, finding(here, "西岗区", 3)])
    assert answers[0] == {"read": True} and isinstance(answers[1], dict)
    assert len(raised) == 1  # refused in the batch, answered alone
    assert answers[1]["id"] in stored_findings(there, "西岗区")


def test_a_read_sees_another_servers_publication_and_close(two):
    # Reads take the year as cached (at most YEAR_RECHECK old); what another server publishes or closes shows
    # at once where the read names the position (Kaohe-Read-After), and in the views for every read.
    import time

    from api.service.writes import YEAR_RECHECK

    here, there = two
    assert here.year_info(YEAR)["publication"] is None  # the year is cached here now
    there.publish(Actor("admin", "admin"), year=YEAR, days=5)
    assert here.year_info(YEAR, after=there.written_position)["publication"]["days"] == 5
    there.close_year(Actor("admin", "admin"), year=YEAR, force=True)
    assert here.year_info(YEAR, after=there.written_position)["closed"] is True
    time.sleep(YEAR_RECHECK + 0.05)
    assert here._recent_year(YEAR).closed  # the cached year itself is looked at again


def test_after_a_flood_of_other_writes_the_whole_cache_is_fast_forwarded(two, monkeypatch):
    # A look reads at most MOST_EVENTS positions; beyond that it trusts nothing cached (and reads nothing).
    from api.service import cache_horizon

    here, there = two
    here.run_together([finding(here, "中山区", 1), finding(here, "西岗区", 1)])
    here.run_together([finding(here, "中山区", 2), finding(here, "西岗区", 2)])  # both current here
    monkeypatch.setattr(cache_horizon, "MOST_EVENTS", 1)
    there.record_finding(OFFICE, year=YEAR, district="西岗区", clause="8.2.b", occurred_on="2018-05-03")
    there.record_finding(OFFICE, year=YEAR, district="西岗区", clause="8.2.b", occurred_on="2018-05-04")
    here.run_together([finding(here, "中山区", 5)])
    assert ledger_id(YEAR, "西岗区") in here._horizon.stale
    refused = saves_refused(here, monkeypatch)
    answers = here.run_together([finding(here, "中山区", 6), finding(here, "西岗区", 6)])
    assert all(isinstance(a, dict) for a in answers) and refused == []
    assert len(stored_findings(there, "西岗区")) == 5
