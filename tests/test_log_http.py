"""The verifiable log over HTTP: the key without a token, checkpoints, inclusion and consistency proofs and leaves,
each checked by an independent verifier (RFC 9162 and `cryptography` only); scopes; receipts of every write
(group commit too); the audit export's stored fields; the final checkpoint on the ranking and the workbook."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import stat

import httpx
import pytest
from openpyxl import load_workbook

from api.asgi import create_app
from api.service.log_keys import key_path
from domain.actors import Actor
from domain.log_check import EVENT_NOTE, LogCheckFailed, check_consistency, check_receipt, stored_chain_hash
from domain.signed_note import Verifier
from tests.conftest import YEAR
from tests.independent_log import checkpoint_signed, consistency_ok, inclusion_ok, mth, sha, signature_ok
from tests.test_http_api import error_of

Y = f"/years/{YEAR}"
h = bytes.fromhex


@pytest.fixture
def written(api, year_2018) -> list[dict]:
    """A few writes of different kinds over HTTP; their answers."""
    answers = [
        api.post("office", f"{Y}/meetings", {"title": "全委会", "held_on": "2018-03-15", "absent": ["中山区"],
                                               "excused": ["西岗区"]}).json(),
        api.post("宣传教育部", f"{Y}/districts/西岗区/findings", {"clause": "2.1.a"}).json(),
        api.post("office", f"{Y}/districts/中山区/findings", {"clause": "8.5.a", "occurred_on": "2018-06-01"}).json(),
        api.post("office", f"{Y}/reports", {"title": "半年总结", "due_on": "2018-07-10"}).json(),
    ]
    return answers


def test_the_key_is_published_without_a_token_and_kept_private(api, app):
    r = api.client.get("/api/log/key")
    assert r.status_code == 200
    key = r.json()
    assert key["vkey"] == Verifier(key["vkey"]).vkey and key["vkey"].startswith(key["name"] + "+")
    assert Verifier(key["vkey"]).public_key_bytes == base64.b64decode(key["public_key"])
    path = key_path(app.env_dict())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text().startswith("PRIVATE+KEY+" + key["name"] + "+")


def test_an_independent_verifier_accepts_the_checkpoint_every_inclusion_and_every_consistency(api, written):
    vkey = api.get(None, "/log/key").json()["vkey"]
    cp = api.get("auditor", f"{Y}/log/checkpoint").json()
    origin, size, root = checkpoint_signed(vkey, cp["note"])
    assert (origin, size, root.hex()) == (cp["origin"], cp["size"], cp["root"]) and origin.endswith(f"/{YEAR}")
    leaves = api.get("auditor", f"{Y}/log/leaves", start="0", end=str(size)).json()["leaves"]
    inputs = [h(leaf["hash"]) for leaf in leaves]
    assert [leaf["index"] for leaf in leaves] == list(range(size))
    assert all(sha(b"\x00" + i).hex() == leaf["leaf_hash"] for i, leaf in zip(inputs, leaves))
    assert mth(inputs) == root
    for index in range(size):
        proof = api.get("中山区", f"{Y}/log/inclusion", index=str(index), size=str(size)).json()
        assert inclusion_ok(index, size, h(proof["leaf_hash"]), [h(p) for p in proof["proof"]], root)
    for first in range(size + 1):
        proof = api.get("西岗区", f"{Y}/log/consistency", first=str(first), second=str(size)).json()
        assert consistency_ok(first, size, mth(inputs[:first]), root, [h(p) for p in proof["proof"]]) or first == 0
    for answer in written:  # every write's receipt, including those that had none before (meetings, reports)
        log = answer["receipt"]["log"]
        _, at, at_root = checkpoint_signed(vkey, log["note"])
        assert at == log["size"] and at_root.hex() == log["root"] and inputs[log["index"]] == h(log["hash"])
        assert inclusion_ok(log["index"], at, sha(b"\x00" + h(log["hash"])), [h(p) for p in log["proof"]], at_root)


def test_corrupted_proofs_are_refused_by_both_verifiers(api, written):
    vkey = api.get(None, "/log/key").json()["vkey"]
    verifier = Verifier(vkey)
    receipt = max((w["receipt"] for w in written), key=lambda r: len(r["log"]["proof"]))
    log = receipt["log"]
    assert len(log["proof"]) >= 2
    check_receipt(verifier, receipt)
    leaf, root, proof = sha(b"\x00" + h(log["hash"])), h(log["root"]), [h(p) for p in log["proof"]]
    flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
    bad = {
        "wrong index": (log["index"] - 1, log["size"], proof, root),
        "wrong size": (log["index"], log["size"] + 1, proof, root),
        "truncated": (log["index"], log["size"], proof[:-1], root),
        "flipped bit": (log["index"], log["size"], flipped, root),
        "other root": (log["index"], log["size"], proof, sha(b"other")),
    }
    for name, (index, size, path, r) in bad.items():
        assert not inclusion_ok(index, size, leaf, path, r), name
        changed = {**log, "index": index, "size": size, "root": r.hex(), "proof": [p.hex() for p in path]}
        with pytest.raises(LogCheckFailed):
            check_receipt(verifier, {**receipt, "log": changed})
    with pytest.raises(LogCheckFailed):  # the note no longer signs what the receipt says
        check_receipt(verifier, {**receipt, "log": {**log, "note": log["note"].replace(f"\n{log['size']}\n", "\n9\n")}})
    later = api.get("auditor", f"{Y}/log/checkpoint").json()
    proof = api.get("auditor", f"{Y}/log/consistency", first=str(log["size"]), second=str(later["size"])).json()
    origin = later["origin"]
    check_consistency(verifier, origin, log["size"], root, later, proof)
    assert consistency_ok(log["size"], later["size"], root, h(later["root"]), [h(p) for p in proof["proof"]])
    assert not consistency_ok(log["size"], later["size"], h(later["root"]), root, [h(p) for p in proof["proof"]])
    for changed in ({**proof, "proof": proof["proof"][:-1]}, {**proof, "first": log["size"] - 1},
                    {**proof, "proof": [p[:-1] + ("0" if p[-1] != "0" else "1") for p in proof["proof"]]}):
        with pytest.raises(LogCheckFailed):
            check_consistency(verifier, origin, log["size"], root, later, changed)
    with pytest.raises(LogCheckFailed):  # swapped roots
        check_consistency(verifier, origin, log["size"], h(later["root"]), {**later, "root": log["root"]}, proof)


def test_leaves_carry_full_events_only_in_scope(api, written):
    size = api.get("auditor", f"{Y}/log/checkpoint").json()["size"]
    everything = api.get("auditor", f"{Y}/log/leaves", start="0", end=str(size)).json()["leaves"]
    assert all("event" in leaf for leaf in everything)
    mine = api.get("中山区", f"{Y}/log/leaves", start="0", end=str(size)).json()["leaves"]
    shown = [leaf for leaf in mine if "event" in leaf]
    audit = api.get("中山区", f"{Y}/districts/中山区/audit").json()["events"]
    assert {leaf["hash"] for leaf in shown} == {e["hash"] for e in audit}  # its own ledger, nothing else
    assert [leaf["hash"] for leaf in mine] == [leaf["hash"] for leaf in everything]  # hashes for all
    assert api.get("西岗区", f"{Y}/log/leaves", start="1", end="3").json()["end"] == 3
    error_of(api.get("auditor", f"{Y}/log/leaves", start="0", end=str(size + 1)), 422, field="end")
    error_of(api.get("auditor", f"{Y}/log/leaves", start="3", end="2"), 422, field="start")
    error_of(api.get("auditor", f"{Y}/log/inclusion", index=str(size), size=str(size)), 422, field="index")
    error_of(api.get("auditor", f"{Y}/log/consistency", first="1", second=str(size + 1)), 422, field="second")
    assert api.get(None, f"{Y}/log/checkpoint").status_code == 401
    error_of(api.get("auditor", "/years/2017/log/checkpoint"), 404)


def test_the_audit_export_lets_anyone_recompute_both_hashes_and_check_the_signature(api, written):
    vkey = api.get(None, "/log/key").json()["vkey"]
    leaves = {leaf["hash"]: leaf for leaf in api.get("auditor", f"{Y}/log/leaves", start="0", end=str(
        api.get("auditor", f"{Y}/log/checkpoint").json()["size"])).json()["leaves"]}
    for event in api.events("中山区"):
        recomputed, stored, signature = stored_chain_hash(event)
        assert recomputed == stored == event["hash"]
        assert json.loads(event["state"])["prev_hash"] == event["prev_hash"]
        assert leaves[event["hash"]]["leaf_hash"] == sha(b"\x00" + h(event["hash"])).hex()
        assert signature == event["signature"] and signature_ok(vkey, EVENT_NOTE.format(hash=event["hash"]), signature)
        assert event["originator_version"] == event["seq"] and event["topic"].startswith("domain.ledger:")


def test_group_committed_writes_share_one_checkpoint_and_each_is_proven(app, year_2018, auth):
    async def play() -> list[httpx.Response]:
        asgi = create_app(app)
        async with asgi.router.lifespan_context(asgi):
            transport = httpx.ASGITransport(app=asgi)
            async with httpx.AsyncClient(transport=transport, base_url="http://kaohe") as client:
                return await asyncio.gather(*[
                    client.post(f"/api{Y}/districts/{d}/findings", headers=auth["office"],
                                json={"clause": "8.2.b", "occurred_on": "2018-05-01", "note": f"#{i}"})
                    for i, d in enumerate(["中山区", "西岗区", "沙河口区"] * 4)])

    answers = [r.json() for r in asyncio.run(play())]
    verifier = Verifier(app.log_key()["vkey"])
    logs = [a["receipt"]["log"] for a in answers]
    for answer in answers:
        check_receipt(verifier, answer)
    assert len({log["index"] for log in logs}) == len(logs)
    # The batch itself, as the group commit runs it: one save, one log catch-up, one checkpoint for all.
    office = Actor("办公室", "office")
    batch = app.run_together([lambda d=d: app.record_finding(office, year=YEAR, district=d, clause="8.2.b",
                                                             occurred_on="2018-05-02")
                              for d in ["中山区", "西岗区", "沙河口区"] * 3])
    assert len({a["receipt"]["log"]["size"] for a in batch}) == 1
    assert len({a["receipt"]["log"]["index"] for a in batch}) == 9
    for answer in batch:
        check_receipt(verifier, answer)


def test_closing_signs_the_final_checkpoint_that_the_ranking_and_workbook_carry(api, written):
    closed = api.post("admin", f"{Y}/close", {"force": True})
    assert closed.status_code == 200, closed.text
    final = closed.json()["log"]
    log = closed.json()["receipt"]["log"]
    assert final == {"size": log["size"], "root": log["root"]}
    assert api.get("auditor", f"{Y}/log/checkpoint").json()["size"] == final["size"]
    ranking = api.get("auditor", f"{Y}/scores").json()
    assert ranking["final"] and ranking["log"] == final
    assert api.get("auditor", f"{Y}/scores", as_of="2018-06-01").json()["log"] is None
    book = load_workbook(io.BytesIO(api.get("auditor", f"{Y}/export.xlsx").content))
    cells = [c for row in book["汇总"].iter_rows(values_only=True) for c in row if c]
    assert f"日志大小 {final['size']}" in cells and final["root"] in cells
    assert api.get("admin", f"{Y}/verify").json()["ok"]


def test_an_idempotent_replay_carries_the_same_log_entry(api, year_2018):
    body = {"clause": "8.5.a", "occurred_on": "2018-06-01"}
    first = api.post("office", f"{Y}/districts/中山区/findings", body, key="k-log")
    again = api.post("office", f"{Y}/districts/中山区/findings", body, key="k-log")
    assert again.headers["Idempotent-Replay"] == "true"
    assert again.json()["receipt"]["log"] == first.json()["receipt"]["log"]
