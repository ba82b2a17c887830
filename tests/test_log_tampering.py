"""The four tamperings of issue 10, each done by an insider with the database (direct SQL on the events or view
tables, then `kaohe replay`), on SQLite and PostgreSQL: each is caught by `kaohe verify`, and by `kaohe log verify`
run with a receipt kept before the tampering and a checkpoint (and proofs) fetched after it."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from api.asgi import create_app
from api.cli import main
from api.service.bootstrap import assemble
from domain.actors import Actor
from domain.ledger import ledger_id
from tests.conftest import YEAR
from tests.log_support import EventsTable, cli_env, keep, rehash

Y = f"/years/{YEAR}"
OFFICE = Actor("办公室", "office")


@pytest.fixture
def kept(app, year_2018, api, tmp_path):
    """Three findings on 中山区 and one on 西岗区 over HTTP; the last write's answer is the receipt kept."""
    def find(district: str, clause: str, day: str) -> dict:
        r = api.post("office", f"{Y}/districts/{district}/findings", {"clause": clause, "occurred_on": day})
        assert r.status_code == 201, r.text
        return r.json()

    find("中山区", "8.2.b", "2018-03-01")
    find("西岗区", "8.2.b", "2018-03-02")
    find("中山区", "8.5.a", "2018-04-01")
    last = find("中山区", "8.2.b", "2018-05-01")
    return {"receipt": keep(tmp_path, "receipt.json", last), "vkey": api.get(None, "/log/key").json()["vkey"],
            "totals": api.totals(), "size": last["receipt"]["log"]["size"]}


def fetched_after(app, auth, tmp_path, kept, *, writes: int = 2) -> dict:
    """The service restarted on the tampered store and kept in use (more writes); then what a district fetches:
    the latest checkpoint, the consistency proof from its receipt's size, and every leaf."""
    restarted = assemble(dict(app.env))
    try:
        for n in range(writes):
            restarted.record_finding(OFFICE, year=YEAR, district="西岗区", clause="8.2.b", occurred_on=f"2018-06-0{n + 1}")
        with TestClient(create_app(restarted)) as client:
            def get(path: str, **params) -> dict:
                r = client.get(f"/api{Y}{path}", headers=auth["中山区"], params=params)
                assert r.status_code == 200, r.text
                return r.json()

            cp = get("/log/checkpoint")
            cons = get("/log/consistency", first=kept["size"], second=cp["size"])
            leaves = get("/log/leaves", start=0, end=cp["size"])
            totals = {d["district"]: d["total"] for d in client.get(f"/api{Y}/scores", headers=auth["auditor"]).json()["districts"]}
    finally:
        restarted.close()
    return {"checkpoint": keep(tmp_path, "checkpoint.json", cp), "consistency": keep(tmp_path, "consistency.json", cons),
            "leaves": keep(tmp_path, "leaves.json", leaves), "totals": totals, "size": cp["size"]}


def log_verify(kept: dict, after: dict, *, leaves: bool = False) -> int:
    args = ["log", "verify", "--vkey", kept["vkey"], kept["receipt"], after["checkpoint"],
            "--consistency", after["consistency"]]
    return main(args + (["--leaves", after["leaves"]] if leaves else []))


def replay(app, monkeypatch, capsys, caught: str) -> None:
    """`kaohe replay` rebuilds the views from the tampered store and, verifying in the same read, says so."""
    cli_env(monkeypatch, app)
    capsys.readouterr()
    assert main(["replay", "--year", str(YEAR)]) == 1
    assert caught in capsys.readouterr().err


def test_untouched_the_kept_receipt_and_every_check_pass(app, kept, auth, tmp_path, monkeypatch, capsys):
    after = fetched_after(app, auth, tmp_path, kept)
    assert log_verify(kept, after, leaves=True) == 0
    out = capsys.readouterr().out
    assert "包含证明有效" in out and "一致性证明有效" in out and "都有服务签名" in out
    cli_env(monkeypatch, app)
    assert main(["verify", "--year", str(YEAR)]) == 0
    assert main(["replay", "--year", str(YEAR)]) == 0  # verified in the same read as the rebuild
    assert "ok: " in capsys.readouterr().out


def test_replay_checks_the_signed_checkpoint_instead_of_each_events_signature(app, kept, monkeypatch):
    """Every event under the newest checkpoint is proven by that one signature: replay checks it (and the tree
    under it), not one Ed25519 signature per event; events after it are checked one by one."""
    from api.service import log_verify

    checked = []
    real = log_verify.event_signature_ok
    monkeypatch.setattr(log_verify, "event_signature_ok", lambda *a: checked.append(a) or real(*a))
    app.record_finding(OFFICE, year=YEAR, district="西岗区", clause="8.2.b", occurred_on="2018-06-01")
    app.record_finding(OFFICE, year=YEAR, district="西岗区", clause="8.2.b", occurred_on="2018-06-02")
    app.log_fresh()
    covered = app.log_tree(YEAR).size()
    app.sign_checkpoint(YEAR)
    app.record_finding(OFFICE, year=YEAR, district="西岗区", clause="8.2.b", occurred_on="2018-06-03")
    # As if that last write's receipt had never been signed: no checkpoint covers its event.
    EventsTable(app).execute("DELETE FROM log_checkpoints WHERE year = ? AND size > ?", (YEAR, covered))
    checked.clear()
    assert app.replay(YEAR)["verified"]["ok"]
    by_replay = len(checked)
    checked.clear()
    verified = app.verify()
    assert verified["ok"] and len(checked) == verified["events"] > covered  # verify still checks every one
    assert 1 <= by_replay <= verified["events"] - covered  # replay: only those after the newest checkpoint


def test_deleting_a_districts_last_event_then_replaying_is_caught(app, kept, auth, tmp_path, monkeypatch, capsys):
    table = EventsTable(app)
    last_version = table.ledger(YEAR, "中山区")[-1][0]
    table.delete(YEAR, "中山区", last_version)
    replay(app, monkeypatch, capsys, "events were deleted")
    after = fetched_after(app, auth, tmp_path, kept)
    assert after["totals"]["中山区"] > kept["totals"]["中山区"]  # the deduction is gone from the scores
    capsys.readouterr()
    assert main(["verify", "--year", str(YEAR)]) == 1
    assert "history was rewritten" in capsys.readouterr().err
    assert log_verify(kept, after) == 1
    assert "一致性证明无效" in capsys.readouterr().err


def test_dropping_an_event_and_rehashing_the_rest_then_replaying_is_caught(app, kept, auth, tmp_path, monkeypatch,
                                                                             capsys):
    table = EventsTable(app)
    rows = table.ledger(YEAR, "中山区")
    dropped = rows[-2][0]  # the 8.5.a finding; the last one moves down and is re-hashed onto the chain
    table.delete(YEAR, "中山区", dropped)
    prev = rows[-3][2]["hash"]
    for version, topic, state in rows[-1:]:
        state = rehash(topic, ledger_id(YEAR, "中山区"), version - 1, state, prev)
        table.put(YEAR, "中山区", version, state, new_version=version - 1)
        prev = state["hash"]
    replay(app, monkeypatch, capsys, "not written by the service")
    after = fetched_after(app, auth, tmp_path, kept)
    assert after["totals"]["中山区"] != kept["totals"]["中山区"]
    capsys.readouterr()
    assert main(["verify", "--year", str(YEAR)]) == 1
    err = capsys.readouterr().err
    assert "not written by the service" in err and "history was rewritten" in err
    assert log_verify(kept, after) == 1
    assert "一致性证明无效" in capsys.readouterr().err


def test_a_forged_gate_finding_with_a_valid_link_is_caught(app, kept, auth, tmp_path, monkeypatch, capsys):
    table = EventsTable(app)
    version, topic, last = table.ledger(YEAR, "中山区")[-1]
    forged = {k: v for k, v in last.items() if k not in ("hash", "signature")}
    forged.update(finding_id="00000000-0000-4000-8000-0000000000f0", clause="8.3.b", indicator="8.3",
                  occurred_on=None, note="伪造", actor={"name": "办公室", "role": "office"})
    table.put(YEAR, "中山区", version + 1, rehash(topic, ledger_id(YEAR, "中山区"), version + 1, forged, last["hash"]),
              topic=topic)
    replay(app, monkeypatch, capsys, "unsigned: this event was not written by the service")
    after = fetched_after(app, auth, tmp_path, kept)
    assert after["totals"]["中山区"] == kept["totals"]["中山区"] - 5  # the gate takes all of 8.3's 5 points
    capsys.readouterr()
    assert main(["verify", "--year", str(YEAR)]) == 1
    assert "unsigned: this event was not written by the service" in capsys.readouterr().err
    # An append is consistent with the kept receipt (the log only grew) ...
    assert log_verify(kept, after) == 0
    # ... but the district, fetching the leaves since, finds an event on its ledger the service never signed.
    assert log_verify(kept, after, leaves=True) == 1
    assert "没有服务的有效签名" in capsys.readouterr().err


def test_editing_only_the_views_is_caught_by_verify_and_the_log_stays_intact(app, kept, auth, tmp_path, monkeypatch,
                                                                               capsys):
    table = EventsTable(app)
    (summary,) = table.execute("SELECT summary FROM view_districts WHERE year = ? AND district = ?", (YEAR, "中山区"))[0]
    table.execute("UPDATE view_districts SET total = '100', summary = ? WHERE year = ? AND district = ?",
                  (json.dumps({**json.loads(summary), "total": "100"}), YEAR, "中山区"))
    table.execute("UPDATE view_findings SET status = 'retracted' WHERE year = ? AND district = ?", (YEAR, "中山区"))
    after = fetched_after(app, auth, tmp_path, kept)
    assert after["totals"]["中山区"] == 100 != kept["totals"]["中山区"]  # what the API shows now
    cli_env(monkeypatch, app)
    capsys.readouterr()
    assert main(["verify", "--year", str(YEAR)]) == 1
    assert "the views were edited" in capsys.readouterr().err
    # The history itself was not touched: the log proves that, and the events it serves give the true score.
    assert log_verify(kept, after, leaves=True) == 0


def test_a_copy_without_the_key_file_is_verified_with_the_given_key(app, kept, sqlite_file, tmp_path, monkeypatch,
                                                                    capsys):
    import sqlite3

    from domain.signed_note import Signer

    app.catch_up()
    copy = tmp_path / "copy" / "kaohe.sqlite3"
    copy.parent.mkdir()
    with sqlite3.connect(sqlite_file) as source, sqlite3.connect(copy) as target:
        source.backup(target)  # the database alone: no kaohe-log.key beside it
    monkeypatch.setenv("KAOHE_DATABASE_URL", f"sqlite:///{copy}")
    capsys.readouterr()
    assert main(["verify", "--vkey", kept["vkey"]]) == 0
    assert "signatures not checked" not in capsys.readouterr().out
    assert main(["verify"]) == 0
    assert "note: no log key here" in capsys.readouterr().out  # said, not silently skipped
    assert main(["verify", "--vkey", Signer.generate("kaohe").vkey]) == 1  # another key signed none of it
    assert "not written by the service" in capsys.readouterr().err


def test_stripping_every_signature_is_caught_while_checkpoints_remain(app, kept, monkeypatch, capsys):
    """Unsigned events are accepted only before the first signed one (a store from before signing began):
    stripping them all to pass for such a store is caught by the checkpoints kept."""
    assert EventsTable(app).strip_signatures() > 0
    cli_env(monkeypatch, app)
    capsys.readouterr()
    assert main(["verify", "--year", str(YEAR)]) == 1
    assert "the signatures were stripped" in capsys.readouterr().err
