"""Witnesses (见证): `kaohe log keygen`, the admin's `kaohe log witness-key add`, the auditor's `kaohe log witness`
(consistency with what it saw, cosign, post), and the service's refusals of cosignatures it must not keep."""

from __future__ import annotations

import os
import stat

import pytest

from api.cli import main
from api.service import log_witness
from api.service.log_keys import read_signer
from domain.actors import Actor
from domain.log_check import LogCheckFailed
from domain.signed_note import Signer, Verifier, add_signature
from tests.conftest import YEAR
from tests.log_support import EventsTable, cli_env
from tests.test_http_api import error_of

Y = f"/years/{YEAR}"
OFFICE = Actor("办公室", "office")


def over(api, who: str = "auditor") -> log_witness.Fetch:
    """The witness's HTTP calls, through the test client."""
    def fetch(method: str, path: str, body: dict | None = None) -> tuple[int, object]:
        r = api.client.request(method, path, headers=api.auth[who], json=body)
        return r.status_code, r.json()
    return fetch


@pytest.fixture
def witness(app, api, year_2018, tmp_path, monkeypatch, capsys) -> Signer:
    """A witness key made with `kaohe log keygen` and registered with `kaohe log witness-key add`."""
    path = tmp_path / "witness.key"
    assert main(["log", "keygen", "--name", "auditor.dalian", "--out", str(path)]) == 0
    vkey = capsys.readouterr().out.strip().splitlines()[-1]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert main(["log", "keygen", "--name", "again", "--out", str(path)]) == 1  # never overwritten
    signer = read_signer(path)
    assert signer.vkey == vkey == Verifier(vkey).vkey
    cli_env(monkeypatch, app)
    assert main(["log", "witness-key", "add", vkey]) == 0
    assert "registered" in capsys.readouterr().out
    return signer


def test_the_witness_cosigns_each_consistent_checkpoint(app, api, witness, tmp_path):
    state = tmp_path / "state"
    done = log_witness.run(over(api), witness, state)
    assert len(done) == 1 and "已见证签名" in done[0]
    cp = api.get("office", f"{Y}/log/checkpoint").json()
    assert [c["witness"] for c in cp["cosignatures"]] == ["auditor.dalian"]
    line = cp["cosignatures"][0]["line"]
    assert witness.verifier.verify(cp["note"] + line)  # one more signed-note line over the same checkpoint
    api.post("office", f"{Y}/districts/中山区/findings", {"clause": "8.5.a", "occurred_on": "2018-06-01"})
    log_witness.run(over(api), witness, state)
    assert api.get("office", f"{Y}/log/checkpoint").json()["size"] > cp["size"]


def test_the_witness_refuses_a_rewritten_history_and_keeps_its_state(app, api, witness, tmp_path, monkeypatch):
    state = tmp_path / "state"
    api.post("office", f"{Y}/districts/中山区/findings", {"clause": "8.5.a", "occurred_on": "2018-06-01"})
    log_witness.run(over(api), witness, state)
    saved = (state / f"{YEAR}.json").read_text()
    table = EventsTable(app)
    table.delete(YEAR, "中山区", table.ledger(YEAR, "中山区")[-1][0])  # the insider cuts the history ...
    cli_env(monkeypatch, app)
    main(["replay", "--year", str(YEAR)])
    from api.service.bootstrap import assemble

    restarted = assemble(dict(app.env))  # ... and keeps the service running: the log grows again
    for day in ("2018-07-01", "2018-07-02"):
        restarted.record_finding(OFFICE, year=YEAR, district="西岗区", clause="8.2.b", occurred_on=day)
    restarted.close()
    with pytest.raises(LogCheckFailed) as refused:
        log_witness.run(over(api), witness, state)
    assert "历史被改写" in refused.value.zh
    assert (state / f"{YEAR}.json").read_text() == saved


def test_the_service_refuses_cosignatures_it_must_not_keep(app, api, witness):
    first = api.get("auditor", f"{Y}/log/checkpoint").json()
    api.post("office", f"{Y}/districts/中山区/findings", {"clause": "8.5.a", "occurred_on": "2018-06-01"})
    second = api.get("auditor", f"{Y}/log/checkpoint").json()
    cosigned = add_signature(second["note"], witness)
    error_of(api.post("office", f"{Y}/log/cosignatures", {"note": cosigned}), 403)
    error_of(api.post("中山区", f"{Y}/log/cosignatures", {"note": cosigned}), 403)
    stranger = Signer.generate("stranger")
    error_of(api.post("auditor", f"{Y}/log/cosignatures", {"note": add_signature(second["note"], stranger)}), 422,
             field="note")
    forged = witness.sign(second["note"].split("\n\n")[0].replace(f"\n{second['size']}\n", "\n99\n") + "\n")
    error_of(api.post("auditor", f"{Y}/log/cosignatures", {"note": forged}), 422, field="note")
    error_of(api.post("auditor", f"{Y}/log/cosignatures", {"note": "not a note"}), 422, field="note")

    r = api.post("auditor", f"{Y}/log/cosignatures", {"note": cosigned}, key="c-1")
    assert r.status_code == 201, r.text
    assert r.json()["size"] == second["size"] and r.json()["witnesses"] == ["auditor.dalian"]
    again = api.post("auditor", f"{Y}/log/cosignatures", {"note": cosigned}, key="c-1")
    assert again.status_code == 201 and again.headers["Idempotent-Replay"] == "true"
    error_of(api.post("auditor", f"{Y}/log/cosignatures", {"note": add_signature(first["note"], witness)}, key="c-1"),
             422, field="Idempotency-Key")
    # An older checkpoint after a newer one: the witness would vouch for a rollback.
    refused = api.post("auditor", f"{Y}/log/cosignatures", {"note": add_signature(first["note"], witness)})
    error_of(refused, 409, code="inconsistent_checkpoint")
    assert [c["witness"] for c in api.get("auditor", f"{Y}/log/checkpoint").json()["cosignatures"]] == \
        ["auditor.dalian"]


def test_the_command_line_refuses_bad_input_with_a_reason(tmp_path, capsys):
    assert main(["log", "verify", "--vkey", "not-a-key", str(tmp_path / "missing.json")]) == 1
    assert "unreadable input" in capsys.readouterr().err
    receipt = tmp_path / "receipt.json"
    receipt.write_text('{"receipt": {"aggregate": "x", "version": 1, "head": "00"}}')
    vkey = Signer.generate("k").vkey
    assert main(["log", "verify", "--vkey", vkey, str(receipt)]) == 1
    assert "回执中没有日志证明" in capsys.readouterr().err
