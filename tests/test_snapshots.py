"""Snapshots of long ledgers: a ledger restored from one equals the ledger folded from all its events, a restart
that reads them writes and scores as one that replays everything, and a snapshot is never trusted as history:
verify checks the chains from the events and each snapshot against them, and an edited snapshot row is caught
(by its seal or its head on load, by verify always) without changing what the service does."""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import orjson
import pytest
from fastapi.testclient import TestClient
from eventsourcing.application import project_aggregate
from eventsourcing.persistence import Mapper
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from api.asgi import create_app
from api.service import KaoheApp, snapshots
from api.service.storage import OrjsonTranscoder
from domain.actors import Actor
from domain.errors import DomainError
from domain.ledger import DistrictLedger, ledger_id
from domain.log_check import seal_snapshot
from domain.signed_note import Signer
from tests.stores import STORES, store_url
from tests.test_history_readers import DISTRICTS, play, steps

YEAR = 2018
ADMIN = Actor("管理员", "admin")
OFFICE = Actor("办公室", "office")
ZHONGSHAN = Actor("中山区总工会", "district", district="中山区")
INTERVAL = 5  # events between snapshots in these tests (the service's default is 100)


# --- the domain: a snapshot's state read back equals the fold of every event -------------------------

class _Keys:
    """What the snapshot mapper asks the app for: the log key."""

    def __init__(self) -> None:
        self.log_signer = Signer.generate("test")

    def log_verifier(self):
        return self.log_signer.verifier


SHA = [f"{i:064x}" for i in range(1, 4)]
ledger_steps = st.lists(st.one_of(
    st.tuples(st.just("record"), st.sampled_from(["8.2.b", "8.5.a", "8.3.c"]), st.sampled_from([None, "2018-03-01"])),
    st.tuples(st.just("measured"), st.decimals("60", "100", places=1, allow_nan=False).map(str)),
    st.tuples(st.just("retract"), st.integers(0, 30)),
    st.tuples(st.just("dispute"), st.integers(0, 30)),
    st.tuples(st.just("resolve"), st.integers(0, 30), st.sampled_from(["upheld", "overturned"])),
    st.tuples(st.just("sign_off"), st.sampled_from(["8.2", "8.3", "5.4"])),
    st.tuples(st.just("upload"), st.sampled_from(SHA)),
    st.tuples(st.just("submit"), st.sampled_from(["8.2", "5.4"]), st.booleans()),
    st.tuples(st.just("return"), st.integers(0, 30)),
), min_size=1, max_size=40)


def run_ledger(ledger: DistrictLedger, plan: list[tuple]) -> None:
    """Commands on one ledger; those its rules refuse (retract a retracted finding …) are part of the history."""
    actor, district = OFFICE.as_event(), ZHONGSHAN.as_event()
    items: dict[str, list[str]] = {"finding": [], "dispute": [], "submission": []}

    def pick(kind: str, i: int) -> str | None:
        return items[kind][i % len(items[kind])] if items[kind] else None

    for step in plan:
        new_id = str(uuid.uuid4())
        try:
            if step[0] == "record":
                ledger.record_finding(finding_id=new_id, clause=step[1], indicator=step[1][:3], actor=actor,
                                      occurred_on=step[2], note="迟到")
                items["finding"].append(new_id)
            elif step[0] == "measured":
                ledger.record_finding(finding_id=new_id, clause="5.4.b", indicator="5.4", actor=actor,
                                      measures={"enterprise_rate": step[1], "large_enterprise_rate": "90.0"})
                items["finding"].append(new_id)
            elif step[0] == "retract" and pick("finding", step[1]):
                ledger.retract_finding(finding_id=pick("finding", step[1]), reason="错录", actor=actor)
            elif step[0] == "dispute" and pick("finding", step[1]):
                ledger.file_dispute(dispute_id=new_id, finding_id=pick("finding", step[1]), statement="已参加",
                                    evidence=[], actor=district)
                items["dispute"].append(new_id)
            elif step[0] == "resolve" and pick("dispute", step[1]):
                ledger.resolve_dispute(dispute_id=pick("dispute", step[1]), decision=step[2], reason="核实",
                                       actor=actor)
            elif step[0] == "sign_off":
                ledger.sign_off(indicator=step[1], actor=actor)
            elif step[0] == "upload":
                ledger.upload_evidence(sha256=step[1], size=10, media_type="application/pdf", filename="a.pdf",
                                       actor=district)
            elif step[0] == "submit":
                evidence = [f"sha256:{sha}" for sha in ledger.history.files][:1] if step[2] else ["纸质材料"]
                ledger.submit_materials(submission_id=new_id, indicator=step[1], statement="自评", evidence=evidence,
                                        actor=district)
                items["submission"].append(new_id)
            elif step[0] == "return" and pick("submission", step[1]):
                ledger.return_submission(submission_id=pick("submission", step[1]), reason="补充材料", actor=actor)
        except DomainError:
            pass


@settings(max_examples=200, deadline=None)
@given(plan=ledger_steps, cut=st.integers(0, 40))
def test_a_ledger_restored_from_a_snapshot_equals_the_fold_of_all_its_events(plan, cut):
    transcoder = OrjsonTranscoder()
    events_mapper = Mapper(transcoder=transcoder)
    snapshot_mapper = snapshots.SnapshotMapper(transcoder, _Keys())
    ledger = DistrictLedger.open(year=YEAR, district="中山区", rubric="dalian-2018", rubric_hash="x",
                                 actor=ADMIN.as_event())
    run_ledger(ledger, plan)
    stored = [events_mapper.to_stored_event(e) for e in ledger.collect_events()]  # as the store holds them
    at = min(cut, len(stored) - 1) + 1  # a snapshot after `at` events, then the events after it
    taken = project_aggregate(None, map(events_mapper.to_domain_event, stored[:at]))
    row = snapshot_mapper.to_stored_event(DistrictLedger.Snapshot.take(taken))
    restored = project_aggregate(None, [snapshot_mapper.to_domain_event(row),
                                        *map(events_mapper.to_domain_event, stored[at:])])
    folded = project_aggregate(None, map(events_mapper.to_domain_event, stored))
    assert restored == folded  # every attribute, the history slot by slot, the chain head exactly
    assert restored.head == folded.head == ledger.head and restored.version == ledger.version
    for slot in type(folded.history).__slots__:  # not only equal: the same types (tuples stay tuples …)
        assert repr(getattr(restored.history, slot)) == repr(getattr(folded.history, slot)), slot


# --- the service: restart, scores, verify, on both stores --------------------------------------------

@pytest.fixture(params=STORES)
def store(request, tmp_path) -> Iterator[tuple[str, dict[str, str]]]:
    with store_url(request.param, tmp_path) as (url, extra):
        yield url, {**extra, "SNAPSHOT_INTERVAL": str(INTERVAL)}


@contextmanager
def service(store: tuple[str, dict[str, str]], **env: str) -> Iterator[KaoheApp]:
    url, extra = store
    app = KaoheApp.from_url(url, **{**extra, **env})
    try:
        yield app
    finally:
        app.close()


def long_history(app: KaoheApp, findings: int = 23) -> list[str]:
    app.open_year(ADMIN, year=YEAR, rubric="dalian-2018", districts=["中山区", "西岗区"])
    ids = [app.record_finding(OFFICE, year=YEAR, district="中山区", clause="8.2.b", occurred_on="2018-03-01")["id"]
           for _ in range(findings)]
    app.retract_finding(OFFICE, year=YEAR, finding_id=ids[0], reason="错录")
    dispute = app.file_dispute(ZHONGSHAN, year=YEAR, finding_id=ids[1], statement="已参加")["id"]
    app.resolve_dispute(OFFICE, year=YEAR, dispute_id=dispute, decision="overturned", reason="核实")
    app.sign_off(OFFICE, year=YEAR, district="中山区", indicator="8.5")
    assert app.snapshotter.flush()
    app.catch_up()
    return ids


def newest_snapshot(app: KaoheApp) -> snapshots.StoredEvent:
    rows = [r for r in snapshots.stored(app) if r.originator_id == ledger_id(YEAR, "中山区")]
    assert len(rows) == 1  # older ones are deleted
    return rows[0]


def replace_snapshot(app: KaoheApp, row: snapshots.StoredEvent, state: bytes) -> None:
    table, p = snapshots._table(app)
    with app.snapshots.recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(f"UPDATE {table} SET state = {p} WHERE originator_id = {p} AND originator_version = {p}",
                       (state, snapshots._id_param(app, row.originator_id), row.originator_version))


def edited(row: snapshots.StoredEvent, find: bytes, put: bytes) -> bytes:
    assert find in row.state
    return row.state.replace(find, put, 1)


def cold_ledger(store, **env: str) -> tuple[DistrictLedger, int]:
    """The ledger as a restarted service loads it, and how many snapshots it refused on the way."""
    with service(store, **env) as app:
        ledger = app.repository.get(ledger_id(YEAR, "中山区"))
        assert app.snapshotter.flush()  # a load that folded many events asks for a snapshot: taken before close
        return ledger, app.repository.rejected


def test_a_long_ledger_is_snapshotted_in_the_background_and_only_its_newest_snapshot_is_kept(store):
    with service(store) as app:
        long_history(app)
        row = newest_snapshot(app)
        version = app.repository.get(ledger_id(YEAR, "中山区")).version
        assert row.originator_version == version - version % INTERVAL
        assert app.snapshotter.taken >= 5 and app.snapshotter.failed is None
        # Snapshots are not history: no notification, so no projection, log leaf or audit row comes from one.
        topics = {n.topic for n in app.recorder.select_notifications(start=0, limit=10_000)}
        assert not any("Snapshot" in t for t in topics)
        events = len(app.recorder.select_notifications(start=0, limit=10_000))
        assert app.views.query("SELECT COUNT(*) FROM view_audit")[0][0] == events
        assert app.verify()["ok"] and app.verify()["events"] == events


def test_a_restart_reads_the_snapshot_and_writes_and_scores_as_a_full_replay_would(store):
    with service(store) as app:
        ids = long_history(app)
        before = app.district_score(ADMIN, YEAR, "中山区")
    restored, rejected = cold_ledger(store)
    folded, _ = cold_ledger(store, IS_SNAPSHOTTING_ENABLED="n")
    assert restored == folded and rejected == 0 and restored.version > INTERVAL
    for snapshots_on, finding in (("y", ids[2]), ("n", ids[3])):  # the same kind of write, with and without
        with service(store, IS_SNAPSHOTTING_ENABLED=snapshots_on) as app:
            assert app.district_score(ADMIN, YEAR, "中山区")["total"] == before["total"]
            with pytest.raises(DomainError):  # the restored ledger knows the retraction: no second one
                app.retract_finding(OFFICE, year=YEAR, finding_id=ids[0], reason="再撤")
            app.retract_finding(OFFICE, year=YEAR, finding_id=finding, reason="错录")
            app.snapshotter.flush()
            app.catch_up()
            before = app.district_score(ADMIN, YEAR, "中山区")
            assert app.verify()["ok"]
    restored, rejected = cold_ledger(store)
    folded, _ = cold_ledger(store, IS_SNAPSHOTTING_ENABLED="n")
    assert restored == folded and rejected == 0
    with service(store, IS_SNAPSHOTTING_ENABLED="n") as app:
        replayed = app.replay(YEAR)  # every view rebuilt from the events alone
        assert app.district_score(ADMIN, YEAR, "中山区") == before
        assert replayed["verified"]["ok"]


def test_http_writes_and_reads_after_a_restart_with_snapshots_are_those_of_a_full_replay(store):
    from fastapi.testclient import TestClient

    from api.asgi import create_app
    from api.service import tokens

    with service(store) as app:
        ids = long_history(app)
    with service(store) as app, TestClient(create_app(app)) as client:
        headers = {"Authorization": f"Bearer {tokens.create_token(app.views, 'office-1', 'office')}"}
        again = client.post(f"/api/years/{YEAR}/findings/{ids[0]}/retraction", headers=headers,
                            json={"reason": "再撤"})
        assert again.status_code == 409, again.text  # the restored ledger knows it was retracted
        r = client.post(f"/api/years/{YEAR}/districts/中山区/findings", headers=headers,
                        json={"clause": "8.5.a", "occurred_on": "2018-04-01"})
        assert r.status_code == 201, r.text
        assert r.json()["receipt"]["version"] == app.repository.get(ledger_id(YEAR, "中山区")).version
        assert app.repository.rejected == 0
        score = client.get(f"/api/years/{YEAR}/districts/中山区/score", headers=headers).json()
    with service(store, IS_SNAPSHOTTING_ENABLED="n") as app:
        app.replay(YEAR)
        assert Decimal(str(score["total"])) == Decimal(str(app.district_score(ADMIN, YEAR, "中山区")["total"]))
        assert any(f["clause"] == "8.5.a" for c in score["categories"] for i in c["indicators"]
                   for cl in i["clauses"] for f in cl["findings"])


def edit_event(app: KaoheApp, version: int, find: bytes, put: bytes) -> None:
    """An insider's edit of one stored event of the long ledger, in place."""
    aggregate = ledger_id(YEAR, "中山区")
    stored = next(iter(app.recorder.select_events(aggregate, gt=version - 1, lte=version)))
    table, p = snapshots._table(app)
    with app.recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(f"UPDATE {table.replace('snapshots', 'events')} SET state = {p} WHERE originator_id = {p} "
                       f"AND originator_version = {p}",
                       (edited(stored, find, put), snapshots._id_param(app, aggregate), version))


def test_verify_still_catches_an_edited_event_with_snapshots_present(store):
    with service(store) as app:
        long_history(app)
        assert app.verify()["ok"] and snapshots.stored(app)
        edit_event(app, 3, b"2018-03-01", b"2018-03-02")
        result = app.verify()
        assert not result["ok"] and result["first_broken"]["version"] == 3
        assert "edited" in result["first_broken"]["problem"]


def test_an_edited_snapshot_is_refused_on_load_and_caught_by_verify(store):
    with service(store) as app:
        long_history(app)
        row = newest_snapshot(app)
        # An insider "un-retracts" a finding in the snapshot table: the seal no longer matches the bytes.
        replace_snapshot(app, row, edited(row, b'"retracted"', b'"live"'))
        result = app.verify()
        assert not result["ok"]
        problem = result["problems"][0]
        assert problem["aggregate"] == str(ledger_id(YEAR, "中山区")) and problem["version"] == row.originator_version
        assert "seal" in problem["problem"]
    with service(store) as app, TestClient(create_app(app)) as client:
        assert snapshots_rejected(client) == 0
        restored = app.repository.get(ledger_id(YEAR, "中山区"))
        assert snapshots_rejected(client) >= 1  # what an operator's /metrics shows
    folded, _ = cold_ledger(store, IS_SNAPSHOTTING_ENABLED="n")
    assert restored == folded  # ignored: the events were folded instead


def snapshots_rejected(client: TestClient) -> float:
    samples = {s.name: s.value for family in text_string_to_metric_families(client.get("/metrics").text)
               for s in family.samples}
    return samples["kaohe_snapshots_rejected_total"]


def test_a_resealed_forgery_is_refused_by_its_head_on_load_and_caught_by_verify(store):
    """Even with the log key (a compromised server), a snapshot cannot move the chain head unseen on load,
    nor change any state unseen by verify."""

    def reseal(app: KaoheApp, row: snapshots.StoredEvent, state: bytes) -> bytes:
        body = state.partition(snapshots.SEAL_END)[2]
        seal = seal_snapshot(app.log_signer, str(row.originator_id), row.originator_version, snapshots._digest(body))
        return seal.encode() + snapshots.SEAL_END + body

    with service(store) as app:
        long_history(app)
        row = newest_snapshot(app)
        head = orjson.loads(row.state.partition(snapshots.SEAL_END)[2])["state"]["head"]
        replace_snapshot(app, row, reseal(app, row, edited(row, head.encode(), b"0" * 64)))
        assert not app.verify()["ok"]
    restored, rejected = cold_ledger(store)
    folded, _ = cold_ledger(store, IS_SNAPSHOTTING_ENABLED="n")
    assert rejected >= 1 and restored == folded and restored.head != "0" * 64
    with service(store) as app:
        # That load folded every event and left a good snapshot in the forgery's place.
        row = newest_snapshot(app)
        assert row.originator_version == folded.version and app.verify()["ok"]
        # Head kept, content forged and resealed: loaded (nothing on load can tell), but verify names it.
        replace_snapshot(app, row, reseal(app, row, edited(row, b'"retracted"', b'"live"')))
        result = app.verify()
        assert not result["ok"] and "differs from the ledger folded from its events" in result["problems"][0]["problem"]
        # A sealed snapshot this code cannot read (another state format): ignored on load, never a failed write.
        replace_snapshot(app, row, reseal(app, row, edited(row, b'"format":1', b'"format":9')))
        assert "cannot be read" in app.verify()["problems"][0]["problem"]
    with service(store) as app:
        app.record_finding(OFFICE, year=YEAR, district="中山区", clause="8.5.a", occurred_on="2018-04-01")
        assert app.repository.rejected >= 1
        assert app.repository.get(ledger_id(YEAR, "中山区")).version == folded.version + 1


def test_the_command_line_verify_reports_an_edited_snapshot(tmp_path, monkeypatch, capsys):
    from api.cli import main

    with store_url("sqlite", tmp_path) as (url, extra):
        store = (url, {**extra, "SNAPSHOT_INTERVAL": str(INTERVAL)})
        with service(store) as app:
            long_history(app)
            row = newest_snapshot(app)
        monkeypatch.setenv("KAOHE_DATABASE_URL", url)
        assert main(["verify", "--year", str(YEAR)]) == 0
        path = url[len("sqlite:///"):]
        with sqlite3.connect(path) as db:
            db.execute("UPDATE stored_snapshots SET state = ? WHERE originator_version = ?",
                       (edited(row, b'"retracted"', b'"live"'), row.originator_version))
        assert main(["verify", "--year", str(YEAR)]) == 1
        assert "snapshot" in capsys.readouterr().err


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=steps)
def test_random_histories_read_back_from_snapshots_equal_their_full_fold(history):
    with tempfile.TemporaryDirectory() as home:
        store = (f"sqlite:///{home}/kaohe.sqlite3", {"SNAPSHOT_INTERVAL": "2"})
        with service(store) as app:
            app.open_year(ADMIN, year=YEAR, rubric="dalian-2018", districts=DISTRICTS)
            play(app, history)
            app.snapshotter.flush()
            app.catch_up()
            scores = {d: app.district_score(ADMIN, YEAR, d)["total"] for d in DISTRICTS}
            assert app.verify()["ok"]
        with service(store) as app, service(store, IS_SNAPSHOTTING_ENABLED="n") as full:
            for d in DISTRICTS:
                assert app.repository.get(ledger_id(YEAR, d)) == full.repository.get(ledger_id(YEAR, d))
                app.record_finding(OFFICE, year=YEAR, district=d, clause="8.2.b", occurred_on="2018-06-01")
            app.catch_up()
            full.catch_up()
            assert app.repository.rejected == 0
            for d in DISTRICTS:
                assert app.district_score(ADMIN, YEAR, d)["total"] == full.district_score(ADMIN, YEAR, d)["total"]
                assert Decimal(app.district_score(ADMIN, YEAR, d)["total"]) <= Decimal(scores[d])


def test_a_read_only_verify_checks_the_snapshots_and_a_store_from_before_them_still_opens(store):
    from api.service.bootstrap import build

    url, extra = store
    with service(store) as app:
        long_history(app)
        row = newest_snapshot(app)
    looked = build(url, follow=False, read_only=True, **extra)  # as `kaohe verify` opens a store
    try:
        assert looked.snapshots is not None and looked.verify()["ok"]
    finally:
        looked.close()
    with service(store) as app:
        replace_snapshot(app, row, edited(row, b'"retracted"', b'"live"'))
        table, _ = snapshots._table(app)
    looked = build(url, follow=False, read_only=True, **extra)
    try:
        assert not looked.verify()["ok"]
    finally:
        looked.close()
    with service(store) as app, app.recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(f"DROP TABLE {table}")  # a store written before snapshots existed
    looked = build(url, follow=False, read_only=True, **extra)
    try:
        assert looked.snapshots is None and looked.verify()["ok"]
        assert looked.repository.get(ledger_id(YEAR, "中山区")).version == row.originator_version + 3
    finally:
        looked.close()


def test_snapshots_asked_together_are_stored_together_and_one_already_there_is_skipped(store):
    with service(store) as app:
        app.open_year(ADMIN, year=YEAR, rubric="dalian-2018", districts=["中山区", "西岗区"])
        rows = [{"district": d, "clause": "8.2.b", "occurred_on": "2018-03-01"} for d in ("中山区", "西岗区")] * 5
        app.record_findings(OFFICE, year=YEAR, findings=rows)  # one save takes both ledgers past version 5
        assert app.snapshotter.flush() and app.snapshotter.taken == 2
        assert {(r.originator_id, r.originator_version) for r in snapshots.stored(app)} == {
            (ledger_id(YEAR, d), 6) for d in ("中山区", "西岗区")}
        app.snapshotter.request(ledger_id(YEAR, "中山区"), 6)  # asked again (another process took it first)
        app.snapshotter.request(ledger_id(YEAR, "西岗区"), 5)  # an older one: stored, then pruned away
        assert app.snapshotter.flush() and app.snapshotter.failed is None
        assert {(r.originator_id, r.originator_version) for r in snapshots.stored(app)} == {
            (ledger_id(YEAR, d), 6) for d in ("中山区", "西岗区")}
