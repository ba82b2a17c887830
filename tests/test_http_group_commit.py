"""Concurrent findings over HTTP are grouped into shared transactions and each answered on its own."""

from __future__ import annotations

import asyncio

import httpx

from api.asgi import create_app
from tests.conftest import DISTRICTS, YEAR


def test_concurrent_posts_are_each_recorded_once(app, year_2018, auth):
    async def play() -> list[httpx.Response]:
        api = create_app(app)
        async with api.router.lifespan_context(api):
            transport = httpx.ASGITransport(app=api)
            async with httpx.AsyncClient(transport=transport, base_url="http://kaohe") as client:
                posts = [
                    client.post(f"/api/years/{YEAR}/districts/{DISTRICTS[i % 3]}/findings", headers=auth["office"],
                                json={"clause": "8.2.b", "occurred_on": "2018-05-01", "note": f"#{i}"})
                    for i in range(24)
                ] + [
                    client.post(f"/api/years/{YEAR}/districts/东港区/findings", headers=auth["office"],
                                json={"clause": "8.2.b", "occurred_on": "2018-05-01"})
                ]
                return await asyncio.gather(*posts)

    responses = asyncio.run(play())
    assert [r.status_code for r in responses] == [201] * 24 + [422]
    assert responses[-1].json()["error"]["field"] == "district"
    ids = [r.json()["id"] for r in responses[:24]]
    assert len(set(ids)) == 24
    recorded = [e["data"]["finding_id"] for d in DISTRICTS for e in app.audit(app_admin(), YEAR, d)
                if e["type"] == "FindingRecorded"]
    assert sorted(recorded) == sorted(ids)
    assert app.verify()["ok"]


def app_admin():
    from domain.actors import Actor

    return Actor("test", "admin")


def test_a_cancelled_request_does_not_leave_the_rest_of_its_batch_waiting(app, year_2018):
    from api.http import GroupCommit
    from domain.actors import Actor

    office = Actor("办公室", "office")

    def finding(district: str):
        return lambda: app.record_finding(office, year=YEAR, district=district, clause="8.5.a",
                                          occurred_on="2018-06-01")

    async def play():
        committer = GroupCommit(app)
        first = asyncio.ensure_future(committer.run(finding("中山区")))
        second = asyncio.ensure_future(committer.run(finding("西岗区")))
        await asyncio.sleep(0)  # both queued; the flush is scheduled
        first.cancel()  # the client went away
        return await asyncio.wait_for(second, timeout=5)

    answered = asyncio.run(play())
    assert answered["district"] == "西岗区"
    recorded = {e["data"]["finding_id"] for d in DISTRICTS for e in app.audit(app_admin(), YEAR, d)
                if e["type"] == "FindingRecorded"}
    assert answered["id"] in recorded and len(recorded) == 2  # the cancelled one was still saved, once


def test_concurrent_single_finding_posts_share_appends_and_the_table_lock(app, year_2018, auth):
    """24 findings POSTed at once are saved in a few appends, not 24; on PostgreSQL each append takes the
    library's `LOCK TABLE ... IN EXCLUSIVE MODE` once, so the lock is taken once per batch."""
    recorder = app.recorder
    appends: list[int] = []
    locks: list[int] = []
    insert_events = recorder.insert_events

    def counted_insert(stored_events, **kwargs):
        appends.append(sum(1 for e in stored_events if e.topic.endswith("FindingRecorded")))
        return insert_events(stored_events, **kwargs)

    recorder.insert_events = counted_insert
    if hasattr(recorder, "_lock_table"):
        lock_table = recorder._lock_table

        def counted_lock(curs):
            locks.append(1)
            return lock_table(curs)

        recorder._lock_table = counted_lock

    async def play() -> list[httpx.Response]:
        api = create_app(app)
        async with api.router.lifespan_context(api):
            transport = httpx.ASGITransport(app=api)
            async with httpx.AsyncClient(transport=transport, base_url="http://kaohe") as client:
                return await asyncio.gather(*(
                    client.post(f"/api/years/{YEAR}/districts/{DISTRICTS[i % 3]}/findings", headers=auth["office"],
                                json={"clause": "8.2.b", "occurred_on": "2018-05-01", "note": f"#{i}"})
                    for i in range(24)))

    responses = asyncio.run(play())
    assert [r.status_code for r in responses] == [201] * 24
    batches = [n for n in appends if n]
    assert sum(batches) == 24 and len(batches) <= 24 // 4
    if app.views.is_postgres:
        assert len(locks) == len(appends)  # one table lock per append transaction, whatever it holds


def test_a_batch_with_many_rows_on_one_ledger_signs_each_event_once(app, year_2018, monkeypatch):
    # A group commit names a ledger once per command that touched it; signing per name made a save of
    # 200 rows on one ledger sign its 200 events 40,000 times (found by ops/bench_reads' fill: 27 s).
    from api.service import writes
    from domain.actors import Actor

    signed: list[str] = []
    real = writes.sign_event
    monkeypatch.setattr(writes, "sign_event", lambda signer, head: signed.append(head) or real(signer, head))
    office = Actor("办公室", "office")
    commands = [lambda: app.record_finding(office, year=YEAR, district=DISTRICTS[0], clause="8.2.b",
                                           occurred_on="2018-05-01") for _ in range(20)]
    results = app.run_together(commands)
    assert all(isinstance(r, dict) for r in results)
    assert len(signed) == len(set(signed)) == 20
    assert app.verify()["ok"]
