"""The event-sourced ledger through the application service, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timezone
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from api.service import KaoheApp
from api.service.bootstrap import assemble
from api.service.history import fast_histories, fast_scores
from api.service.storage import OrjsonTranscoder
from api.service.writes import IdempotencyKeyReused
from domain.actors import Actor
from domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from projections.scoreboard import breakdown

ADMIN = Actor("管理员", "admin")
OFFICE = Actor("办公室", "office")
PROPAGANDA = Actor("宣传教育部", "department", department="宣传教育部")
ORGANISATION = Actor("组织建设部", "department", department="组织建设部")
ZHONGSHAN = Actor("中山区总工会", "district", district="中山区")
AUDITOR = Actor("审计", "auditor")
DISTRICTS = ["中山区", "西岗区", "沙河口区"]


@pytest.fixture
def ledger(store):
    url, extra = store
    app = KaoheApp.from_url(url, **extra)
    app.open_year(ADMIN, year=2018, rubric="dalian-2018", districts=DISTRICTS)
    yield app
    app.close()


def totals(app: KaoheApp) -> dict[str, Decimal]:
    return {r["district"]: r["total"] for r in app.scores(ADMIN, 2018)["districts"]}


def event_count(app: KaoheApp) -> int:
    return app.recorder.max_notification_id() or 0


def test_a_fresh_year_scores_every_district_100(ledger):
    assert totals(ledger) == {d: Decimal(100) for d in DISTRICTS}
    with pytest.raises(Conflict):
        ledger.open_year(ADMIN, year=2018, rubric="dalian-2018", districts=DISTRICTS)


def test_findings_deduct_through_the_rubric_and_retraction_restores(ledger):
    # 2.1 开展活动：二项0.7分 → 1 − 0.7 = 0.3 deducted
    f = ledger.record_finding(PROPAGANDA, year=2018, district="中山区", clause="2.1.b", measures={"activities": 2})
    assert totals(ledger)["中山区"] == Decimal("99.7")
    ledger.retract_finding(PROPAGANDA, year=2018, finding_id=f["id"], reason="统计有误")
    assert totals(ledger)["中山区"] == Decimal(100)
    with pytest.raises(Conflict):
        ledger.retract_finding(PROPAGANDA, year=2018, finding_id=f["id"], reason="again")


def test_commands_refuse_bad_input_and_record_nothing(ledger):
    before = event_count(ledger)
    with pytest.raises(InvalidInput) as e:
        ledger.record_finding(OFFICE, year=2018, district="中山区", clause="9.9.z")
    assert e.value.field == "clause"
    with pytest.raises(InvalidInput) as e:
        ledger.record_finding(OFFICE, year=2018, district="东港区", clause="8.3.a")
    assert e.value.field == "district"
    with pytest.raises(Forbidden):  # 8.2 lists 办公室, not 宣传教育部
        ledger.record_finding(PROPAGANDA, year=2018, district="中山区", clause="8.2.b", occurred_on="2018-03-01")
    with pytest.raises(InvalidInput) as e:  # 5.4.b takes two rates
        ledger.record_finding(Actor("民主管理部", "department", department="民主管理部"), year=2018,
                              district="中山区", clause="5.4.b", measures={"enterprise_rate": 70})
    assert e.value.field.startswith("measures.")
    with pytest.raises(InvalidInput) as e:
        ledger.record_finding(OFFICE, year=2018, district="中山区", clause="8.2.b", occurred_on="2019-01-02")
    assert e.value.field == "occurred_on"
    with pytest.raises(Forbidden):
        ledger.record_finding(AUDITOR, year=2018, district="中山区", clause="8.3.a")
    with pytest.raises(NotFound):
        ledger.record_finding(OFFICE, year=2017, district="中山区", clause="8.3.a")
    assert event_count(ledger) == before


def test_a_closed_year_refuses_every_write(ledger):
    ledger.close_year(ADMIN, year=2018, force=True)
    with pytest.raises(Conflict, match="closed"):
        ledger.record_finding(OFFICE, year=2018, district="中山区", clause="8.3.a")
    with pytest.raises(Conflict):
        ledger.hold_meeting(OFFICE, year=2018, title="会", held_on="2018-05-01", absent=["中山区"])
    assert totals(ledger)["中山区"] == Decimal(100)  # reads still work


def test_dispute_rules(ledger):
    f = ledger.record_finding(OFFICE, year=2018, district="中山区", clause="8.3.c")
    d = ledger.file_dispute(ZHONGSHAN, year=2018, finding_id=f["id"], statement="已召开联席会议", evidence=["纪要.pdf"])
    with pytest.raises(Conflict):  # at most one open dispute per finding
        ledger.file_dispute(ZHONGSHAN, year=2018, finding_id=f["id"], statement="again")
    with pytest.raises(Forbidden):  # a district cannot resolve
        ledger.resolve_dispute(ZHONGSHAN, year=2018, dispute_id=d["id"], decision="overturned", reason="x")
    with pytest.raises(Forbidden):  # 8.3 is the office's, not 宣传教育部's
        ledger.resolve_dispute(PROPAGANDA, year=2018, dispute_id=d["id"], decision="overturned", reason="x")
    ledger.resolve_dispute(OFFICE, year=2018, dispute_id=d["id"], decision="overturned", reason="核实已召开")
    assert totals(ledger)["中山区"] == Decimal(100)
    with pytest.raises(Conflict):  # resolved once only
        ledger.resolve_dispute(OFFICE, year=2018, dispute_id=d["id"], decision="upheld", reason="x")
    g = ledger.record_finding(OFFICE, year=2018, district="中山区", clause="8.3.d")
    ledger.retract_finding(OFFICE, year=2018, finding_id=g["id"], reason="误录")
    with pytest.raises(Conflict):  # a retracted finding cannot be disputed
        ledger.file_dispute(ZHONGSHAN, year=2018, finding_id=g["id"], statement="x")
    h = ledger.record_finding(OFFICE, year=2018, district="西岗区", clause="8.3.d")
    with pytest.raises(Forbidden):  # only the finding's own district disputes
        ledger.file_dispute(ZHONGSHAN, year=2018, finding_id=h["id"], statement="x")


def test_idempotency_key_makes_a_repeat_a_no_op(ledger):
    first = ledger.record_finding(OFFICE, year=2018, district="中山区", clause="8.3.c", idempotency_key="k-1")
    count = event_count(ledger)
    again = ledger.record_finding(OFFICE, year=2018, district="中山区", clause="8.3.c", idempotency_key="k-1")
    assert again["id"] == first["id"] and again["receipt"] == first["receipt"]
    assert event_count(ledger) == count
    with pytest.raises(IdempotencyKeyReused):
        ledger.record_finding(OFFICE, year=2018, district="中山区", clause="8.3.d", idempotency_key="k-1")
    assert totals(ledger)["中山区"] == Decimal(99)


def test_concurrent_writers_on_one_district_lose_nothing_and_double_nothing(store):
    url, extra = store
    first = KaoheApp.from_url(url, **extra)
    first.open_year(ADMIN, year=2018, rubric="dalian-2018", districts=DISTRICTS)
    second = KaoheApp.from_url(url, **extra)  # another process's view of the same store
    ids: list[str] = []
    errors: list[BaseException] = []

    def write(app: KaoheApp, n: int) -> None:
        try:
            for i in range(n):
                r = app.record_finding(OFFICE, year=2018, district="中山区", clause="8.2.b",
                                       occurred_on="2018-04-01", note=f"{i}")
                ids.append(r["id"])
        except BaseException as e:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(app, 15)) for app in (first, second, first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # Each process reads its own writes; the other's it sees once told their position (Kaohe-Read-After).
    first.year_info(2018, after=second.written_position)
    second.year_info(2018, after=first.written_position)
    audit = first.audit(ADMIN, 2018, "中山区")
    recorded = [e["data"]["finding_id"] for e in audit if e["type"] == "FindingRecorded"]
    assert sorted(recorded) == sorted(ids) and len(set(recorded)) == 60
    assert [e["seq"] for e in audit] == list(range(1, 62))
    assert first.verify()["ok"]
    assert totals(second)["中山区"] == Decimal(98)  # 60 missed meetings: 8.2.b is capped at 2
    first.close()
    second.close()


def test_a_rebuilt_read_side_equals_the_live_one(ledger):
    meeting = ledger.hold_meeting(OFFICE, year=2018, title="全市会议", held_on="2018-03-02",
                                  absent=["中山区", "西岗区"], excused=["沙河口区"])
    f = ledger.record_finding(ORGANISATION, year=2018, district="西岗区", clause="6.1.a",
                              measures={"enterprise_rate": "90.5", "member_rate": "91"})
    d = ledger.file_dispute(Actor("西岗区", "district", district="西岗区"), year=2018,
                            finding_id=meeting["findings"][1]["id"], statement="已请假")
    ledger.sign_off(OFFICE, year=2018, district="中山区", indicator="8.2")
    live_scores = ledger.scores(ADMIN, 2018)
    live_audit = {x: ledger.audit(ADMIN, 2018, x) for x in DISTRICTS}
    live_disputes = ledger.disputes(ADMIN, 2018)
    live_digest = ledger.digest(2018)
    replayed = ledger.replay(2018)  # drops every view and reads the store from the start
    assert replayed["districts"] == live_scores["districts"]
    assert replayed["digest"] == live_digest and replayed["verified"]["ok"] is True
    assert {x: ledger.audit(ADMIN, 2018, x) for x in DISTRICTS} == live_audit
    assert ledger.disputes(ADMIN, 2018) == live_disputes
    assert [x["id"] for x in live_disputes] == [d["id"]] and f["id"]
    # 6.1.a: mean 90.75 against 93 → 2.25 → 2 full steps × 0.5 = 1; plus 8.2.b 0.5
    assert {r["district"]: r["total"] for r in replayed["districts"]}["西岗区"] == Decimal("98.5")


def test_a_restarted_service_catches_up_from_its_tracked_position(store):
    url, extra = store
    app = KaoheApp.from_url(url, **extra)
    app.open_year(ADMIN, year=2018, rubric="dalian-2018", districts=DISTRICTS)
    app.catch_up()
    app.close()
    writer = KaoheApp.from_url(url, follow=False, **extra)  # writes while no reader runs
    writer.record_finding(OFFICE, year=2018, district="沙河口区", clause="8.5.a", occurred_on="2018-06-01")
    writer.views.execute("DELETE FROM view_tracking")  # simulate a reader that never saw these events...
    writer.views.drop_all()
    writer.close()
    reader = KaoheApp.from_url(url, follow=False, **extra)  # counts what it reads itself: no runner
    assert reader.catch_up() > 0
    assert reader.catch_up() == 0  # position recorded: nothing is read twice
    assert totals(reader)["沙河口区"] == Decimal(99)
    reader.close()


def test_receipts_carry_the_new_chain_head(ledger):
    r = ledger.record_finding(OFFICE, year=2018, district="中山区", clause="8.3.c")
    last = ledger.audit(ZHONGSHAN, 2018, "中山区")[-1]
    assert r["receipt"]["head"] == last["hash"] and r["receipt"]["version"] == last["seq"]
    assert last["prev_hash"] == ledger.audit(ZHONGSHAN, 2018, "中山区")[-2]["hash"]


def test_the_orjson_transcoder_round_trips_exactly():
    t = OrjsonTranscoder()
    value = {"d": Decimal("79.50"), "day": date(2018, 3, 2), "at": datetime(2018, 3, 2, 8, 0, 0, 1, timezone.utc),
             "id": UUID("6f57c44f-d42f-5f30-815c-b4046c0c791b"), "list": [Decimal("0.1"), "x", 3, None, True],
             "nested": {"中文": [{"k": Decimal("-2.6")}]}}
    decoded = t.decode(t.encode(value))
    assert decoded == value
    assert type(decoded["d"]) is Decimal and str(decoded["d"]) == "79.50"
    assert type(decoded["day"]) is date and type(decoded["id"]) is UUID
    from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

    from api.service.storage import DateAsISO
    plain = JSONTranscoder()
    for transcoding in (DecimalAsStr(), DatetimeAsISO(), UUIDAsHex(), DateAsISO()):
        plain.register(transcoding)
    assert plain.decode(t.encode(value)) == value and t.decode(plain.encode(value)) == value


def test_the_fast_replay_equals_the_library_path_including_upcasting(ledger):
    ledger.hold_meeting(OFFICE, year=2018, title="会", held_on="2018-03-02", absent=["中山区"])
    f = ledger.record_finding(ORGANISATION, year=2018, district="西岗区", clause="6.1.a",
                              measures={"enterprise_rate": "80", "member_rate": "93"})
    ledger.retract_finding(ORGANISATION, year=2018, finding_id=f["id"], reason="x")
    _store_a_version_1_finding(ledger, "沙河口区", clause="8.3.c")
    fresh = assemble(dict(ledger.env))  # nothing cached
    fresh.replay(2018)
    library = {r["district"]: r["total"] for r in fresh.scores(ADMIN, 2018)["districts"]}
    fast = {d: score.total for d, score in fast_scores(fresh, 2018).items()}
    assert fast == library == {"中山区": Decimal("99.5"), "西岗区": Decimal(100), "沙河口区": Decimal(99)}
    rubric = fresh.rubric_of_year(2018)
    for district, history in fast_histories(fresh, 2018).items():  # clause by clause, not only totals
        rebuilt = json.loads(fresh.views.query("SELECT breakdown FROM view_districts WHERE year = ? AND district = ?",
                                               (2018, district))[0][0])
        assert breakdown(rubric, district, history) == rebuilt
    fresh.close()


def _store_a_version_1_finding(app: KaoheApp, district: str, clause: str) -> None:
    """Write a FindingRecorded as the code before class_version 2 wrote it (no reference, no source)."""
    from eventsourcing.persistence import StoredEvent

    from domain.chain import chain_hash
    from domain.ledger import ledger_id

    ledger = app.repository.get(ledger_id(2018, district))
    topic = "domain.ledger:DistrictLedger.FindingRecorded"
    at = datetime.now(timezone.utc)
    state = {"actor": OFFICE.as_event(), "prev_hash": ledger.head, "finding_id": str(uuid4()), "clause": clause,
             "indicator": clause.rsplit(".", 1)[0], "occurred_on": None, "measures": {}, "evidence": [],
             "note": None, "timestamp": at.isoformat()}
    digest = chain_hash(topic, str(ledger.id), ledger.version + 1, state)
    stored = {**state, "timestamp": at, "hash": digest}
    app.recorder.insert_events([StoredEvent(ledger.id, ledger.version + 1, topic, app.mapper.transcoder.encode(stored))])


def test_a_process_sees_scores_another_process_projected(store):
    """Two services on one store: the reader's in-memory district state yields to the shared views."""
    url, extra = store
    reader = KaoheApp.from_url(url, follow=False, **extra)
    reader.open_year(ADMIN, year=2018, rubric="dalian-2018", districts=DISTRICTS)
    assert Decimal(reader.district_score(ADMIN, 2018, "中山区")["total"]) == 100  # now held in the reader's memory
    writer = KaoheApp.from_url(url, follow=False, **extra)
    writer.record_finding(OFFICE, year=2018, district="中山区", clause="8.5.a", occurred_on="2018-07-01")
    writer.catch_up()  # the writer projects it; the reader has nothing left to read
    assert reader.catch_up() == 0
    breakdown = reader.district_score(ADMIN, 2018, "中山区")
    assert Decimal(breakdown["total"]) == 99
    clause = next(cl for c in breakdown["categories"] for i in c["indicators"] for cl in i["clauses"]
                  if cl["id"] == "8.5.a")
    assert [f["counted"] for f in clause["findings"]] == [True]
    writer.close()
    reader.close()


def test_group_commit_saves_a_batch_in_one_transaction(ledger):
    before = event_count(ledger)
    commands = [
        (lambda d=d: ledger.record_finding(OFFICE, year=2018, district=d, clause="8.2.b", occurred_on="2018-04-01"))
        for d in ("中山区", "西岗区", "中山区")
    ]
    results = ledger.run_together(commands)
    assert [r["district"] for r in results] == ["中山区", "西岗区", "中山区"]
    assert event_count(ledger) == before + 3
    assert ledger.verify()["ok"]
    assert totals(ledger) == {"中山区": Decimal(99), "西岗区": Decimal("99.5"), "沙河口区": Decimal(100)}


def test_group_commit_with_a_refused_command_records_the_others_once(ledger):
    before = event_count(ledger)
    results = ledger.run_together([
        lambda: ledger.record_finding(OFFICE, year=2018, district="中山区", clause="8.5.a", occurred_on="2018-06-01"),
        lambda: ledger.record_finding(OFFICE, year=2018, district="东港区", clause="8.5.a", occurred_on="2018-06-01"),
        lambda: ledger.record_finding(OFFICE, year=2018, district="中山区", clause="8.5.a", occurred_on="2018-06-02",
                                      idempotency_key="same"),
        lambda: ledger.record_finding(OFFICE, year=2018, district="中山区", clause="8.5.a", occurred_on="2018-06-02",
                                      idempotency_key="same"),
    ])
    assert isinstance(results[1], InvalidInput) and results[1].field == "district"
    assert results[2]["id"] == results[3]["id"] and results[3].get("idempotent_replay")
    assert event_count(ledger) == before + 3  # two findings and one idempotency record, nothing twice
    assert totals(ledger)["中山区"] == Decimal(98)
    assert ledger.verify()["ok"]


def test_a_year_closed_by_another_process_refuses_this_ones_writes(store):
    url, extra = store
    first = KaoheApp.from_url(url, **extra)
    first.open_year(ADMIN, year=2018, rubric="dalian-2018", districts=DISTRICTS)
    first.record_finding(OFFICE, year=2018, district="中山区", clause="8.3.c")  # the year is now cached here
    second = KaoheApp.from_url(url, **extra)
    second.close_year(ADMIN, year=2018, force=True)
    with pytest.raises(Conflict, match="closed"):  # the close is in every ledger: this write conflicts
        first.record_finding(OFFICE, year=2018, district="中山区", clause="8.3.d")
    assert first.year_info(2018)["closed"] is True
    assert first.scores(ADMIN, 2018)["final"] is True
    second.close()
    first.close()


def test_workflow_evidence_travels_with_the_findings_it_causes(ledger):
    meeting = ledger.hold_meeting(OFFICE, year=2018, title="全市会议", held_on="2018-03-02", absent=["中山区"],
                                  excused=["西岗区"], evidence=["签到表.pdf"])
    report = ledger.schedule_report(OFFICE, year=2018, title="半年总结", due_on="2018-07-10")["id"]
    ledger.record_submission(OFFICE, year=2018, report_id=report, district="沙河口区", submitted_on="2018-07-09",
                             evidence=["总结.docx"])
    logs = {d: ledger.audit(ADMIN, 2018, d) for d in DISTRICTS}
    absent = next(e for e in logs["中山区"] if e["type"] == "FindingRecorded")
    assert absent["data"]["evidence"] == ["签到表.pdf"] and absent["data"]["source"]["id"] == meeting["id"]
    excused = next(e for e in logs["西岗区"] if e["type"] == "ActivityNoted")
    assert excused["data"]["activity"] == "excused_absence" and excused["data"]["evidence"] == ["签到表.pdf"]
    submitted = next(e for e in logs["沙河口区"] if e["type"] == "ActivityNoted")
    assert submitted["data"]["activity"] == "report_submitted" and submitted["data"]["evidence"] == ["总结.docx"]


def test_a_remembered_answer_never_hides_a_write_caught_up_while_it_was_computed(ledger):
    def compute_while_another_thread_catches_up():
        stale = ledger.scores(ADMIN, 2018)
        ledger.record_finding(OFFICE, year=2018, district="中山区", clause="8.5.a", occurred_on="2018-06-01")
        ledger.catch_up()  # as a page request on another thread would
        return stale

    ledger.remembered("ranking", 2018, compute_while_another_thread_catches_up)
    assert ledger.remembered_now("ranking", 2018) is None  # labelled as of before the write: recomputed
    fresh = ledger.remembered("ranking", 2018, lambda: ledger.scores(ADMIN, 2018))
    assert {r["district"]: r["total"] for r in fresh["districts"]}["中山区"] == Decimal(99)


def test_a_history_dropped_from_memory_mid_batch_is_read_again_up_to_its_version(ledger):
    """The scoreboard loses a district's history between two events of one catch-up batch (as its
    memory bound would): the rest of the batch must be counted with its beginning, read from the store."""
    ledger.district_score(ADMIN, 2018, "中山区")  # the history is held in memory
    runner = ledger.runner
    runner.stop()  # this test drives the catch-up itself
    ledger.record_finding(OFFICE, year=2018, district="中山区", clause="8.5.a", occurred_on="2018-06-01")
    ledger.record_finding(OFFICE, year=2018, district="中山区", clause="8.5.a", occurred_on="2018-06-02")
    board = next(p for p in ledger.catchup.projections if p.name == "scoreboard")
    original_apply = board.apply
    seen = []

    def apply_and_forget_in_between(views, fact):
        original_apply(views, fact)
        if fact.type == "FindingRecorded" and not seen:
            seen.append(fact)
            board._histories.pop(fact.aggregate_id, None)  # gone while the batch is half applied

    board.apply = apply_and_forget_in_between
    ledger.catch_up()
    board.apply = original_apply
    assert seen
    assert Decimal(ledger.district_score(ADMIN, 2018, "中山区")["total"]) == 98
    assert {r["district"]: r["total"] for r in ledger.scores(ADMIN, 2018)["districts"]}["中山区"] == 98
