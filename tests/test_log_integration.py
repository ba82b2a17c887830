"""The Merkle log takes each write in the transaction that stores its events (api.service.log_integration):
the write's receipt is proven before anything catches up; a save that fails leaves neither events nor leaves;
events that reach the store some other way join the log at the next write, in notification order; and two
services writing to one store keep one dense log. Receipts are checked with the independent verifier."""

from __future__ import annotations

import threading
import uuid

import pytest

from api.service import KaoheApp, log_tables
from api.service.bootstrap import build
from domain.actors import Actor
from domain.ledger import ledger_id
from tests.conftest import DISTRICTS, YEAR
from tests.independent_log import checkpoint_signed, inclusion_ok, sha

OFFICE = Actor("办公室", "office")


def finding(app, district: str = "中山区", day: str = "2018-05-01") -> dict:
    return app.record_finding(OFFICE, year=YEAR, district=district, clause="8.2.b", occurred_on=day)


def proven(app, receipt: dict) -> int:
    """The receipt's log entry checked as a district would: signature, inclusion. Returns its leaf index."""
    entry = receipt["log"]
    origin, size, root = checkpoint_signed(app.log_key()["vkey"], entry["note"])
    assert (size, root.hex()) == (entry["size"], entry["root"]) and origin == f"{app.log_signer.name}/{YEAR}"
    leaf = sha(b"\x00" + bytes.fromhex(receipt["head"]))
    assert inclusion_ok(entry["index"], size, leaf, [bytes.fromhex(p) for p in entry["proof"]], root)
    return entry["index"]


def test_a_write_answers_with_its_proof_before_any_catch_up(app, year_2018):
    if app.runner is not None:
        app.runner.stop()  # nothing catches up behind the write
    before = app.catchup.caught_up_to
    receipts = [finding(app, d)["receipt"] for d in DISTRICTS]
    indices = [proven(app, r) for r in receipts]
    assert indices == list(range(indices[0], indices[0] + len(DISTRICTS)))
    assert app.catchup.caught_up_to == before  # the scoring views have not moved: the log did not wait for them
    kept = log_tables.checkpoint(app.views, YEAR)
    assert kept["size"] == indices[-1] + 1 and kept["note"] == receipts[-1]["log"]["note"]
    assert app.log_tree(YEAR).size() == kept["size"]


def test_a_save_that_fails_after_the_log_took_it_leaves_nothing_and_the_next_write_follows_on(app, year_2018,
                                                                                           monkeypatch):
    first = proven(app, finding(app)["receipt"])
    events = app.recorder.max_notification_id()

    def refuse(*args, **kwargs):
        raise RuntimeError("the disk filled up while signing")

    with monkeypatch.context() as m:
        m.setattr(log_tables, "keep_checkpoint", refuse)
        with pytest.raises(Exception):
            finding(app, "西岗区")
    assert app.recorder.max_notification_id() == events  # the events rolled back with the log's rows
    assert app.log_tree(YEAR).size() == first + 1 and log_tables.checkpoint(app.views, YEAR)["size"] == first + 1
    assert proven(app, finding(app, "西岗区")["receipt"]) == first + 1  # memory forgot the rolled-back leaf


def test_events_stored_behind_the_log_join_it_at_the_next_write_in_store_order(app, year_2018):
    size_before = app.log_tree(YEAR).size()
    integration = app.recorder.integration
    app.recorder.integration = None  # as if written by something that is not this service's write path
    try:
        unlogged = finding(app, "中山区")
    finally:
        app.recorder.integration = integration
    assert unlogged["receipt"].get("log") is None
    after = finding(app, "西岗区")["receipt"]  # (or the runner has taken it meanwhile, under the same lock)
    assert proven(app, after) == size_before + 1  # the unlogged event took the leaf before it
    rows = app.views.query("SELECT idx FROM view_log_leaves WHERE year = ? AND hash = ?",
                           (YEAR, unlogged["receipt"]["head"]))
    assert [int(r[0]) for r in rows] == [size_before]
    assert app.verify(YEAR)["ok"]  # the log's views hold the tree of the stored events, in their order


def test_two_services_on_one_store_keep_one_dense_log(app, year_2018):
    if not app.views.is_postgres:
        pytest.skip("several servers share a store on PostgreSQL; SQLite is one process")
    other = build(_url(app), POSTGRES_SCHEMA=app.env.get("POSTGRES_SCHEMA"))
    try:
        answers: list[dict] = []
        lock = threading.Lock()

        def write(service, district: str) -> None:
            for day in range(1, 21):
                answer = finding(service, district, f"2018-05-{day:02d}")
                with lock:
                    answers.append(answer)

        threads = [threading.Thread(target=write, args=(s, d)) for s, d in ((app, "中山区"), (other, "西岗区"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        indices = sorted(proven(app, a["receipt"]) for a in answers)
        assert len(set(indices)) == 40
        size = app.log_tree(YEAR).size()
        leaves = app.views.query("SELECT idx FROM view_log_leaves WHERE year = ? ORDER BY idx", (YEAR,))
        assert [int(r[0]) for r in leaves] == list(range(size))
        assert app.verify(YEAR)["ok"], app.verify(YEAR)["problems"][:3]
    finally:
        other.close()


def _url(app) -> str:
    env = app.env
    return f"postgresql://{env.get('POSTGRES_USER')}@{env.get('POSTGRES_HOST')}:{env.get('POSTGRES_PORT')}/" \
           f"{env.get('POSTGRES_DBNAME')}"


def test_freshly_started_services_save_long_ledgers_with_their_leaves(app, year_2018):
    """Regression: on PostgreSQL the log's statements run inside the library's pipeline, where one cursor shared
    by them once handed the checkpoint's fetch an earlier INSERT's result ("the last operation didn't produce
    records"), refusing the save; it showed on services just started, saving long ledgers."""
    url = _url(app) if app.views.is_postgres else f"sqlite:///{app.env.get('SQLITE_DBNAME')}"
    extra = {"POSTGRES_SCHEMA": app.env.get("POSTGRES_SCHEMA")} if app.views.is_postgres else {}
    actor = OFFICE.as_event()
    for _ in range(4):
        fresh = KaoheApp.from_url(url, **extra)  # nothing of the store in its memory
        try:
            for district in DISTRICTS[:2]:
                ledger = fresh.repository.get(ledger_id(YEAR, district))
                for _ in range(200):
                    ledger.record_finding(finding_id=str(uuid.uuid4()), clause="8.2.b", indicator="8.2", actor=actor,
                                          occurred_on="2018-05-01")
                fresh.save(ledger)  # refused before the fix, one save in a few
        finally:
            fresh.close()
    assert app.verify(YEAR)["ok"]  # the log's views hold the tree of every stored event


@pytest.mark.parametrize("count", [1, 2, 5, 13, 33])
def test_a_batchs_receipts_are_proven_from_the_nodes_its_insert_made(app, year_2018, monkeypatch, count):
    # Every receipt of a group-commit batch carries a proof against the batch's one checkpoint, made from the
    # nodes the insert kept in memory (no SELECT of the log's nodes), for batches that start at any border.
    from projections import merkle_log

    for i in range(count % 7):  # a tree of some other size first, so batches begin at various borders
        finding(app, DISTRICTS[i % len(DISTRICTS)])
    fetched: list = []
    real = merkle_log.LogTree.inclusion_proofs
    monkeypatch.setattr(merkle_log.LogTree, "inclusion_proofs",
                        lambda self, indices, size: fetched.append(indices) or real(self, indices, size))
    commands = [lambda i=i: finding(app, DISTRICTS[i % len(DISTRICTS)], f"2018-06-{i % 28 + 1:02d}")
                for i in range(count)]
    answers = app.run_together(commands)
    sizes = {a["receipt"]["log"]["size"] for a in answers}
    assert len(sizes) == 1
    size = sizes.pop()
    indices = [proven(app, a["receipt"]) for a in answers]  # (a ledger's events lie together in the batch)
    assert sorted(indices) == list(range(size - count, size))
    assert fetched == []


def test_a_batch_over_two_years_and_after_unlogged_events_is_proven_receipt_by_receipt(app, year_2018):
    # Two years' trees grow in one insert, and the insert first takes events stored behind the log (the slow
    # path of the integration): every receipt still proves against its own year's checkpoint.
    from tests.independent_log import checkpoint_signed

    admin = Actor("admin", "admin")
    app.open_year(admin, year=2019, rubric="dalian-2018", districts=["中山区", "西岗区"])
    integration = app.recorder.integration
    app.recorder.integration = None
    try:
        finding(app, "西岗区")  # stored, not yet in the log
    finally:
        app.recorder.integration = integration
    commands = [lambda y=y, d=d: app.record_finding(OFFICE, year=y, district=d, clause="8.2.b",
                                                    occurred_on=f"{y}-05-01")
                for y in (YEAR, 2019) for d in ("中山区", "西岗区") for _ in range(3)]
    answers = app.run_together(commands)
    for answer, command_year in zip(answers, [YEAR] * 6 + [2019] * 6):
        entry = answer["receipt"]["log"]
        origin, size, root = checkpoint_signed(app.log_key()["vkey"], entry["note"])
        assert origin == f"{app.log_signer.name}/{command_year}"
        leaf = sha(b"\x00" + bytes.fromhex(answer["receipt"]["head"]))
        assert inclusion_ok(entry["index"], size, leaf, [bytes.fromhex(p) for p in entry["proof"]], root)
    assert app.verify()["ok"]
