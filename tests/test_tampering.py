"""Tamper evidence: rows edited, deleted or reordered directly in the SQLite file are each caught."""

from __future__ import annotations

import sqlite3

import orjson
import pytest

from api.service import KaoheApp
from api.service.bootstrap import assemble
from domain.actors import Actor
from domain.ledger import ledger_id
from tests.stores import store_url

ADMIN = Actor("管理员", "admin")
OFFICE = Actor("办公室", "office")


@pytest.fixture
def history(tmp_path):
    with store_url("sqlite", tmp_path) as (url, _):
        app = KaoheApp.from_url(url)
        app.open_year(ADMIN, year=2018, rubric="dalian-2018", districts=["中山区", "西岗区"])
        for day in ("2018-03-01", "2018-04-01", "2018-05-01"):
            app.hold_meeting(OFFICE, year=2018, title=f"会议 {day}", held_on=day, absent=["中山区"])
        assert app.verify()["ok"]
        app.catch_up()  # the audit log has seen every head
        path = app.env.get("SQLITE_DBNAME")
        yield app, path
        app.close()


def ledger_rows(path: str, app: KaoheApp) -> list[tuple[int, int, bytes]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT rowid, originator_version, state FROM stored_events WHERE originator_id = ? "
                          "ORDER BY originator_version", (ledger_id(2018, "中山区").hex,)).fetchall()


def test_an_intact_history_verifies(history):
    app, _ = history
    result = app.verify(2018)
    assert result["ok"] and result["problems"] == [] and result["events"] > 0
    assert result["head"] == app.digest(2018)


def test_an_edited_event_is_caught(history):
    app, path = history
    rowid, version, state = ledger_rows(path, app)[2]
    data = orjson.loads(state)
    data["note"] = "改过的"  # a quiet rewrite of what was recorded
    with sqlite3.connect(path) as db:
        db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (orjson.dumps(data), rowid))
    result = app.verify()
    assert not result["ok"]
    assert result["first_broken"]["version"] == version
    assert "edited" in result["first_broken"]["problem"]


def test_a_deleted_event_is_caught(history):
    app, path = history
    rowid, version, _ = ledger_rows(path, app)[1]
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM stored_events WHERE rowid = ?", (rowid,))
    result = app.verify()
    assert not result["ok"]
    assert "deleted" in result["first_broken"]["problem"]


def test_a_deleted_last_event_is_caught_by_the_heads_already_seen(history):
    app, path = history
    rowid, version, _ = ledger_rows(path, app)[-1]
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM stored_events WHERE rowid = ?", (rowid,))
    result = app.verify()
    assert not result["ok"]
    assert any("were deleted" in p["problem"] and p["version"] == version for p in result["problems"])


def test_reordered_events_are_caught(history):
    app, path = history
    rows = ledger_rows(path, app)
    (a, va, _), (b, vb, _) = rows[1], rows[2]
    with sqlite3.connect(path) as db:  # swap two events' places in the district's sequence
        db.execute("UPDATE stored_events SET originator_version = -1 WHERE rowid = ?", (a,))
        db.execute("UPDATE stored_events SET originator_version = ? WHERE rowid = ?", (va, b))
        db.execute("UPDATE stored_events SET originator_version = ? WHERE rowid = ?", (vb, a))
    result = app.verify()
    assert not result["ok"]
    assert result["first_broken"]["aggregate"] == str(ledger_id(2018, "中山区"))
    assert "deleted or reordered" in result["first_broken"]["problem"]


def test_the_command_line_verify_exits_1_on_tampering(history, monkeypatch, capsys):
    from api.cli import main

    app, path = history
    monkeypatch.setenv("KAOHE_DATABASE_URL", f"sqlite:///{path}")
    assert main(["verify", "--year", "2018"]) == 0
    rowid, _, state = ledger_rows(path, app)[1]
    with sqlite3.connect(path) as db:
        db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (state.replace(b"2018-03-01", b"2018-03-02"), rowid))
    assert main(["verify", "--year", "2018"]) == 1
    assert "TAMPERED" in capsys.readouterr().err


def test_a_cut_and_continued_chain_is_caught(history):
    """Delete a district's last event, then let new events follow: the links are valid again,
    but the event the audit log once saw at that version is gone."""
    app, path = history
    rowid, version, _ = ledger_rows(path, app)[-1]
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM stored_events WHERE rowid = ?", (rowid,))
    restarted = assemble(dict(app.env))  # nothing cached: it continues from the shortened chain
    for day in ("2018-06-01", "2018-07-01"):
        restarted.hold_meeting(OFFICE, year=2018, title=f"会议 {day}", held_on=day, absent=[], excused=["中山区"])
    result = restarted.verify()
    assert not result["ok"]
    assert any("rewritten" in p["problem"] and p["version"] == version for p in result["problems"])
    restarted.catch_up()  # the audit log has now also seen the replacement: still caught
    result = restarted.verify()
    assert not result["ok"]
    assert any("two different events" in p["problem"] and p["version"] == version for p in result["problems"])
    restarted.close()


def test_control_characters_are_refused_before_they_reach_the_history(history):
    app, _ = history
    from domain.errors import InvalidInput

    for bad in ("bad\x00note", "第一行\x0b第二行", "\ud800"):
        with pytest.raises(InvalidInput) as e:
            app.record_finding(OFFICE, year=2018, district="中山区", clause="8.3.c", note=bad)
        assert e.value.field == "note"
    with pytest.raises(InvalidInput) as e:
        app.open_year(ADMIN, year=2019, rubric="dalian-2018", districts=["中山区", "西岗/区"])
    assert e.value.field == "districts"
    assert app.verify()["ok"]


def test_an_event_forged_after_the_close_is_caught(history):
    """Someone with the database and the code appends a valid link to a closed ledger."""
    app, _ = history
    app.close_year(ADMIN, year=2018, force=True)
    ledger = app.repository.get(ledger_id(2018, "中山区"))
    ledger._append(ledger.FindingRecorded, finding_id="forged", clause="8.3.c", indicator="8.3", occurred_on=None,
                   measures={}, evidence=[], note=None, reference=None, source=None, actor=OFFICE.as_event())
    app.save(ledger)
    result = app.verify(2018)
    assert not result["ok"]
    assert result["first_broken"]["problem"] == "recorded after the year was closed in this chain"
