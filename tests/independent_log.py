"""An independent verifier for the tests, written from RFC 9162 §2.1 and c2sp.org/signed-note with hashlib and
`cryptography` only: it shares no code with domain.merkle, domain.signed_note or domain.log_check."""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(leaf_inputs: list[bytes]) -> bytes:
    """MTH(D[n]) by the RFC's definition."""
    n = len(leaf_inputs)
    if n == 0:
        return sha(b"")
    if n == 1:
        return sha(b"\x00" + leaf_inputs[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return sha(b"\x01" + mth(leaf_inputs[:k]) + mth(leaf_inputs[k:]))


def inclusion_ok(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2, step by step."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = sha(b"\x01" + p + r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = sha(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def consistency_ok(first: int, second: int, first_root: bytes, second_root: bytes, path: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2, step by step (first == second: an empty path and equal roots)."""
    if first == second:
        return not path and first_root == second_root
    if not 0 < first < second or not path:
        return False
    if first & (first - 1) == 0:
        path = [first_root, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = sha(b"\x01" + c + fr), sha(b"\x01" + c + sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = sha(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


def checkpoint_signed(vkey: str, note: str) -> tuple[str, int, bytes]:
    """(origin, size, root) of a checkpoint note carrying a valid Ed25519 line by `vkey`; AssertionError otherwise."""
    name, key_id, b64 = vkey.split("+", 2)
    raw = base64.b64decode(b64)
    assert raw[0] == 1 and sha(name.encode() + b"\n" + raw)[:4].hex() == key_id
    public = Ed25519PublicKey.from_public_bytes(raw[1:])
    body, _, lines = note.rpartition("\n\n")
    body += "\n"
    signed = False
    for line in lines.splitlines():
        who, sig = line.removeprefix("\u2014 ").split(" ")
        sig = base64.b64decode(sig)
        if who == name and sig[:4].hex() == key_id:
            try:
                public.verify(sig[4:], body.encode())
            except InvalidSignature:
                raise AssertionError("bad signature") from None
            signed = True
    assert signed, "no line by this key"
    origin, size, root = body.splitlines()[:3]
    return origin, int(size), base64.b64decode(root)


def signature_ok(vkey: str, text: str, b64_signature: str) -> bool:
    """A bare signed-note signature (key id ‖ Ed25519) over `text`."""
    _, key_id, b64 = vkey.split("+", 2)
    raw = base64.b64decode(b64)[1:]
    sig = base64.b64decode(b64_signature)
    if sig[:4].hex() != key_id:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(sig[4:], text.encode())
    except InvalidSignature:
        return False
    return True
