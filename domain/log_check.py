"""Checking the verifiable log without the server: a receipt's signed checkpoint and inclusion proof, a newer
checkpoint's consistency with it, and the service's signature on each event (over its chain hash).

Pure: JSON-shaped dicts in, the statements proven out, or `LogCheckFailed` with the reason in Chinese and English.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Mapping

from domain import merkle
from domain.chain import chain_hash
from domain.signed_note import MalformedNote, Signer, Verifier, parse_checkpoint, parse_note

EVENT_NOTE = "kaohe-event-signature\n{hash}\n"  # two lines: never a checkpoint (which has three or more)
SNAPSHOT_NOTE = "kaohe-snapshot-seal {aggregate} {version} {digest}\n"


class LogCheckFailed(Exception):
    def __init__(self, zh: str, en: str):
        super().__init__(f"{zh} ({en})")
        self.zh, self.en = zh, en


# --- the service's signature on each event ----------------------------------------------

def event_note(chain_hash: str) -> str:
    return EVENT_NOTE.format(hash=chain_hash)


def sign_event(signer: Signer, chain_hash: str) -> str:
    """base64(key id ‖ Ed25519 signature) of the event note: a C2SP signed-note signature, without the name."""
    return _signature(signer, event_note(chain_hash))


def event_signature_ok(verifier: Verifier, chain_hash: str, signature: object) -> bool:
    if not isinstance(chain_hash, str):
        return False
    return _signature_ok(verifier, event_note(chain_hash), signature)


# --- the service's seal on each snapshot of a ledger (api.service.snapshots) -----------------

def snapshot_note(aggregate: str, version: int, digest: str) -> str:
    """One line (never an event note, which has two, nor a checkpoint, which has three or more)."""
    return SNAPSHOT_NOTE.format(aggregate=aggregate, version=version, digest=digest)


def seal_snapshot(signer: Signer, aggregate: str, version: int, digest: str) -> str:
    """The seal of a snapshot: a signature over which ledger, which version and the sha256 of its stored bytes."""
    return _signature(signer, snapshot_note(aggregate, version, digest))


def snapshot_seal_ok(verifier: Verifier, aggregate: str, version: int, digest: str, seal: object) -> bool:
    return _signature_ok(verifier, snapshot_note(aggregate, version, digest), seal)


def _signature(signer: Signer, note: str) -> str:
    return signer.sign_line(note).rstrip("\n").rsplit(" ", 1)[1]


def _signature_ok(verifier: Verifier, note: str, signature: object) -> bool:
    if not isinstance(signature, str):
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) == 68 and raw[:4] == verifier.key_id and verifier.verify_signature(note, raw[4:])


# --- checkpoints and proofs ---------------------------------------------------------------

def _hex32(value: object, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise LogCheckFailed(f"{what} 不是 64 位十六进制哈希", f"{what} is not a 64-hex-digit hash")
    return raw


def _proof(value: object, what: str) -> list[bytes]:
    if not isinstance(value, list):
        raise LogCheckFailed(f"{what} 必须是哈希列表", f"{what} must be a list of hashes")
    return [_hex32(p, what) for p in value]


def _int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise LogCheckFailed(f"{what} 必须是非负整数", f"{what} must be a non-negative integer")
    return value


def signed_checkpoint(verifier: Verifier, note: object, what: str = "检查点") -> tuple[str, int, bytes]:
    """(origin, size, root) of a note that `verifier` signed; LogCheckFailed otherwise."""
    if not isinstance(note, str) or not verifier.verify(note):
        raise LogCheckFailed(f"{what}的签名无效，或不是该密钥签署的", f"the {_en(what)} is not signed by this key")
    try:
        body, _ = parse_note(note)
        return parse_checkpoint(body)
    except MalformedNote as e:
        raise LogCheckFailed(f"{what}格式错误", f"malformed {_en(what)}: {e}") from None


def _en(what: str) -> str:
    return {"检查点": "checkpoint", "回执的检查点": "receipt's checkpoint", "新检查点": "newer checkpoint"}.get(what, what)


def receipt_of(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """A write's answer or its `receipt`: the receipt itself."""
    receipt = document.get("receipt") if isinstance(document.get("receipt"), Mapping) else document
    if not isinstance(receipt.get("log"), Mapping):
        raise LogCheckFailed("回执中没有日志证明（log）", "the receipt has no log entry")
    return receipt


def check_receipt(verifier: Verifier, document: Mapping[str, Any]) -> tuple[str, int, bytes, list[str]]:
    """The receipt's checkpoint is signed and includes its event: (origin, size, root, statements proven)."""
    receipt = receipt_of(document)
    log = receipt["log"]
    origin, size, root = signed_checkpoint(verifier, log.get("note"), "回执的检查点")
    if log.get("size") != size or log.get("root") != root.hex():
        raise LogCheckFailed("回执的 size/root 与其签名检查点不符", "the receipt's size or root differs from its signed note")
    index = _int(log.get("index"), "index")
    leaf_input = _hex32(log.get("hash", receipt.get("head")), "hash")
    proof = _proof(log.get("proof"), "proof")
    if not merkle.verify_inclusion(index, size, merkle.leaf_hash(leaf_input), proof, root):
        raise LogCheckFailed(f"包含证明无效：第 {index} 号记录不在大小为 {size} 的树中",
                             f"the inclusion proof does not show leaf {index} in the tree of size {size}")
    return origin, size, root, [
        f"签名有效：检查点 {origin} 大小 {size} 由 {verifier.name} 签署 (checkpoint signed by {verifier.name})",
        (f"包含证明有效：第 {index} 号记录（事件哈希 {leaf_input.hex()[:16]}…）在该检查点的树中 "
         f"(event {index} is in the signed tree of size {size})"),
    ]


def check_consistency(verifier: Verifier, origin: str, size: int, root: bytes, newer: Mapping[str, Any],
                      consistency: Mapping[str, Any]) -> tuple[int, bytes, list[str]]:
    """A newer signed checkpoint extends the tree (size, root) only by appending: (its size, root, statements)."""
    new_origin, new_size, new_root = signed_checkpoint(verifier, newer.get("note"), "新检查点")
    if new_origin != origin:
        raise LogCheckFailed(f"新检查点属于另一个日志 {new_origin}", f"the newer checkpoint is of another log ({new_origin})")
    if new_size < size:
        raise LogCheckFailed(f"新检查点（大小 {new_size}）比回执的（大小 {size}）小：日志被截短",
                             f"the newer checkpoint ({new_size}) is smaller than the receipt's ({size}): the log shrank")
    if consistency.get("first") != size or consistency.get("second") != new_size:
        raise LogCheckFailed("一致性证明的 first/second 与两个检查点的大小不符",
                             "the consistency proof is for other sizes than the two checkpoints")
    proof = _proof(consistency.get("proof"), "proof")
    if not merkle.verify_consistency(size, new_size, root, new_root, proof):
        raise LogCheckFailed(f"一致性证明无效：大小 {new_size} 的树不是在大小 {size} 的树之后只追加得到的，历史被改写",
                             f"the tree of size {new_size} does not extend the tree of size {size}: history was rewritten")
    return new_size, new_root, [
        f"签名有效：新检查点大小 {new_size} (newer checkpoint signed)",
        (f"一致性证明有效：大小 {size} 的树是大小 {new_size} 的树的前缀，此后只追加、未改写 "
         f"(the log of size {new_size} extends the one of size {size} by appending only)"),
    ]


# --- the leaves themselves --------------------------------------------------------------------

def stored_chain_hash(event: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """(recomputed chain hash, stored hash, stored signature) of an event exactly as stored (`state` is its
    JSON text): the hash covers topic, id, version and the state without `hash` and `signature`, with each
    tagged value ({"_type_", "_data_"}, the timestamp) written as its text."""
    state = json.loads(event["state"])
    stored, signature = state.pop("hash", None), state.pop("signature", None)
    body = {k: _untag(v) for k, v in state.items()}
    return chain_hash(event["topic"], str(event["originator_id"]), int(event["originator_version"]), body), \
        stored, signature


def _untag(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"_type_", "_data_"}:
            return value["_data_"]
        return {k: _untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag(v) for v in value]
    return value


def check_leaves(verifier: Verifier, size: int, root: bytes, documents: list[Mapping[str, Any]]) -> list[str]:
    """Leaves [0, size) (answers of GET .../log/leaves) make the signed tree of `size` with `root`, and every
    event among them shown in full hashes to its leaf and carries the service's signature."""
    leaves: dict[int, Mapping[str, Any]] = {}
    for document in documents:
        for leaf in document.get("leaves") or []:
            leaves[_int(leaf.get("index"), "index")] = leaf
    if sorted(leaves) != list(range(size)):
        raise LogCheckFailed(f"叶子文件须恰好覆盖 0..{size - 1}", f"the leaves must cover exactly 0..{size - 1}")
    tree = merkle.MemoryTree()
    for i in range(size):
        leaf = leaves[i]
        data = _hex32(leaf.get("hash"), "hash")
        if leaf.get("leaf_hash") != merkle.leaf_hash(data).hex():
            raise LogCheckFailed(f"第 {i} 号叶子的叶哈希算错", f"leaf {i}: leaf_hash is not SHA-256(0x00 ‖ hash)")
        tree.append(data)
    if tree.root() != root:
        raise LogCheckFailed(f"叶子算出的根与签名检查点（大小 {size}）不符", f"the leaves do not make the signed root of size {size}")
    shown = 0
    for i in range(size):
        event = leaves[i].get("event")
        if event is None:
            continue
        shown += 1
        try:
            recomputed, stored, signature = stored_chain_hash(event)
        except (KeyError, TypeError, ValueError):
            raise LogCheckFailed(f"第 {i} 号叶子的事件无法读取", f"leaf {i}: the stored event cannot be read") from None
        if recomputed != leaves[i]["hash"] or stored != recomputed:
            raise LogCheckFailed(f"第 {i} 号叶子的事件内容与其哈希不符：事件被改过",
                                 f"leaf {i}: the stored event does not hash to the leaf: it was edited")
        if not event_signature_ok(verifier, recomputed, signature):
            raise LogCheckFailed(f"第 {i} 号叶子的事件没有服务的有效签名：不是服务写入的（伪造）",
                                 f"leaf {i}: the event carries no valid service signature: it was not written by the service")
    return [(f"叶子有效：{size} 个叶子构成签名的树；其中可读的 {shown} 个事件内容与哈希相符，且都有服务签名 "
             f"(the {size} leaves make the signed tree; the {shown} events shown hash to their leaves and are signed)")]
