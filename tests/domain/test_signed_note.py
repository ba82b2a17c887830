"""domain.signed_note against the C2SP examples, golang.org/x/mod/sumdb/note's vectors, and `cryptography` directly."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from domain.errors import InvalidInput
from domain.signed_note import (
    MalformedNote,
    Signer,
    Verifier,
    add_signature,
    checkpoint_body,
    key_id,
    parse_checkpoint,
    parse_note,
)

# golang.org/x/mod/sumdb/note note_test.go
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = ("\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6Ry"
             "yBwJnAM=\n")
ENOCH_SIG = ("\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc"
             "+QQ=\n")

# c2sp.org/signed-note "Example"
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = ("This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1E"
             "RYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")
# c2sp.org/signed-note opening example: the text has a blank line of its own
QUASIMODO = ("Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n"
             "\u2014 quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcX"
             "xj99ihAQwaqP3ZekRwNtIc=\n")
# c2sp.org/tlog-checkpoint example
CHECKPOINT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def test_go_signer_vector_signs_byte_for_byte():
    signer = Signer(PETER_SKEY)
    assert signer.name == "PeterNeumann"
    assert signer.vkey == PETER_VKEY
    assert signer.key_id.hex() == "c74f20a3"
    # Ed25519 is deterministic, so the note is exactly the published one
    assert signer.sign(TEXT) == TEXT + "\n" + PETER_SIG
    assert signer.sign_line(TEXT) == PETER_SIG


def test_published_notes_verify():
    assert Verifier(C2SP_VKEY).verify(C2SP_NOTE)
    both = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert Verifier(PETER_VKEY).verify(both)
    assert Verifier(ENOCH_VKEY).verify(both)
    assert not Verifier(C2SP_VKEY).verify(both)  # no line by that key


def test_key_id_per_spec():
    for vkey in (PETER_VKEY, ENOCH_VKEY, C2SP_VKEY):
        name, hex8, b64 = vkey.split("+", 2)
        raw = base64.b64decode(b64)
        assert raw[0] == 0x01 and len(raw) == 33
        want = hashlib.sha256(name.encode() + b"\n" + b"\x01" + raw[1:]).digest()[:4]
        assert key_id(name, raw[1:]) == want == bytes.fromhex(hex8)
        v = Verifier(vkey)
        assert (v.name, v.key_id, v.public_key_bytes) == (name, want, raw[1:])
        assert Verifier.from_public_key(name, raw[1:]).vkey == vkey


def test_round_trip_with_a_generated_key():
    signer = Signer.generate("kaohe.dalian")
    body = checkpoint_body("kaohe.dalian/2018", 42, bytes(range(32)))
    note = signer.sign(body)
    parsed_body, sigs = parse_note(note)
    assert parsed_body == body
    assert [(n, k) for n, k, _ in sigs] == [("kaohe.dalian", signer.key_id)]
    assert Verifier(signer.vkey).verify(note)
    assert parse_checkpoint(parsed_body) == ("kaohe.dalian/2018", 42, bytes(range(32)))
    # the signer key string round-trips (what `kaohe log keygen` writes)
    again = Signer(signer.skey)
    assert again.vkey == signer.vkey and again.sign(body) == note
    assert signer.skey.startswith("PRIVATE+KEY+kaohe.dalian+" + signer.key_id.hex() + "+")
    assert signer.skey not in repr(signer)


def test_signature_checks_with_cryptography_directly():
    signer = Signer.generate("example.org/log")
    body = "example.org/log\n3\n" + base64.b64encode(b"\x07" * 32).decode() + "\n"
    note = signer.sign(body)
    line = note[len(body) + 1:]
    assert line.startswith("\u2014 example.org/log ") and line.endswith("\n")
    raw = base64.b64decode(line.rsplit(" ", 1)[1])
    assert raw[:4] == signer.key_id and len(raw) == 4 + 64
    public = Ed25519PublicKey.from_public_bytes(signer.public_key_bytes)
    public.verify(raw[4:], body.encode("utf-8"))  # raises if wrong
    with pytest.raises(InvalidSignature):
        public.verify(raw[4:], body.encode("utf-8") + b"x")


def flip_sig_bit(note: str, bit: int) -> str:
    body, rest = note.split("\n\n", 1)
    prefix, b64 = rest[:-1].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(b64))
    raw[4 + bit // 8] ^= 1 << (bit % 8)
    return body + "\n\n" + prefix + " " + base64.b64encode(bytes(raw)).decode() + "\n"


def test_tampering_is_refused():
    signer, other = Signer.generate("kaohe.test"), Signer.generate("kaohe.test")
    body = checkpoint_body("kaohe.test/2018", 7, b"\x01" * 32)
    note = signer.sign(body)
    v = Verifier(signer.vkey)
    assert v.verify(note)
    assert not v.verify(note.replace("\n7\n", "\n8\n"))  # tampered body
    assert not Verifier(other.vkey).verify(note)  # same name, another key: its id differs, line ignored
    for bit in (0, 1, 100, 511):
        assert not v.verify(flip_sig_bit(note, bit))
    # a known key's failing line rejects the note even beside a good one
    assert not v.verify(note + flip_sig_bit(note, 3)[len(body) + 1:])
    # a line naming this key with another key's signature
    other_sig = base64.b64decode(other.sign_line(body).rsplit(" ", 1)[1])[4:]
    forged = body + "\n\u2014 kaohe.test " + base64.b64encode(signer.key_id + other_sig).decode() + "\n"
    assert parse_note(forged)[1] == [("kaohe.test", signer.key_id, other_sig)]
    assert not v.verify(forged)
    assert not v.verify(note[:-1])  # malformed → False, not an exception
    assert not v.verify(None)  # type: ignore[arg-type]


def test_cosignature():
    log, witness = Signer.generate("kaohe.dalian"), Signer.generate("auditor.dalian")
    body = checkpoint_body("kaohe.dalian/2018", 100, hashlib.sha256(b"root").digest())
    note = log.sign(body)
    cosigned = add_signature(note, witness)
    assert cosigned.startswith(note)
    parsed_body, sigs = parse_note(cosigned)
    assert parsed_body == body and [s[0] for s in sigs] == ["kaohe.dalian", "auditor.dalian"]
    assert Verifier(log.vkey).verify(cosigned) and Verifier(witness.vkey).verify(cosigned)
    # cosigning again replaces the witness's own line instead of piling up copies
    assert add_signature(cosigned, witness) == cosigned
    # a cosignature over a note from published vectors keeps its lines untouched
    assert add_signature(C2SP_NOTE, witness).startswith(C2SP_NOTE)
    assert Verifier(C2SP_VKEY).verify(add_signature(C2SP_NOTE, witness))


MALFORMED = [
    TEXT,
    TEXT + "\n",
    TEXT + "\n" + PETER_SIG[:-1],
    "\x01" + TEXT + "\n" + PETER_SIG,
    "\ud800" + TEXT + "\n" + PETER_SIG,  # not encodable as UTF-8
    TEXT + "\n" + "\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6Ry"
                  "yBwJnAM=",
    TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    TEXT + "\n" + PETER_SIG.replace("\u2014", "-"),
    TEXT + "\n" + PETER_SIG.replace("\u2014 ", "\u2014"),
    TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter+Neumann"),
    TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter\u00a0Neumann"),
    TEXT + "\n" + PETER_SIG.replace("PeterNeumann ", "PeterNeumann"),
    TEXT + "\n" + "\u2014 PeterNeumann \n",
    TEXT + "\n" + "\u2014 PeterNeumann AAAA\n",  # fewer than 4+1 bytes
    TEXT + "\n" + "\u2014 PeterNeumann x08go/ZJ!\n",
    TEXT + "\n" + PETER_SIG.replace("AM=", "AM"),  # padding required
    TEXT + "\n" + PETER_SIG + "\n",
    TEXT + "\n" + PETER_SIG.replace("\n", "\r\n"),
    TEXT + "\n" + PETER_SIG * 101,
    "",
    "\n\n",
]


@pytest.mark.parametrize("note", MALFORMED)
def test_malformed_notes_are_refused(note):
    with pytest.raises(MalformedNote):
        parse_note(note)
    assert not Verifier(PETER_VKEY).verify(note)
    assert issubclass(MalformedNote, InvalidInput)  # 422 through the API's error mapping


def test_blank_lines_inside_the_text_follow_the_spec():
    body, sigs = parse_note(QUASIMODO)
    assert body == "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
    assert [s[0] for s in sigs] == ["quasimodo.example/salvatore"]
    assert len(parse_note(TEXT + "\n" + PETER_SIG * 16)[1]) == 16  # at least 16 signatures accepted


def test_mangled_keys_are_refused():
    Verifier(PETER_VKEY)
    Signer(PETER_SKEY)
    for key, make in ((PETER_VKEY, Verifier), (PETER_SKEY, Signer)):
        for i in range(len(key) + 1):
            for j in range(i + 1, len(key) + 1):
                if (i, j) != (0, len(key)):
                    with pytest.raises(MalformedNote):
                        make(key[i:j])
        for i in range(len(key)):
            with pytest.raises(MalformedNote):
                make(key[:i] + chr(ord(key[i]) + 1) + key[i + 1:])
    with pytest.raises(MalformedNote):  # unknown algorithm, with a matching key id
        Verifier("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    with pytest.raises(MalformedNote):  # wrong key length, with a matching key id
        Verifier("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
    with pytest.raises(MalformedNote):
        Verifier(PETER_VKEY.replace("c74f20a3", "C74F20A3"))  # hex is lowercase
    with pytest.raises(MalformedNote):
        Signer(PETER_SKEY[len("PRIVATE+KEY+"):])
    for name in ("", "a b", "a+b", "a\u3000b", "a\nb"):
        with pytest.raises(MalformedNote):
            Signer.generate(name)


def test_signing_needs_a_note_text():
    signer = Signer(PETER_SKEY)
    for body in ("abc", "", "a\x00b\n", "tab\there\n"):
        with pytest.raises(MalformedNote):
            signer.sign(body)


def test_checkpoint_example_and_round_trip():
    origin, size, root = parse_checkpoint(CHECKPOINT)
    assert (origin, size) == ("example.com/behind-the-sofa", 20852163)
    assert root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=") and len(root) == 32
    assert checkpoint_body(origin, size, root) == CHECKPOINT
    with_ext = checkpoint_body(origin, 0, root, ["ext one", "ext two"])
    assert with_ext == "example.com/behind-the-sofa\n0\n" + CHECKPOINT.split("\n")[2] + "\next one\next two\n"
    assert parse_checkpoint(with_ext) == (origin, 0, root)


ROOT64 = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="


@pytest.mark.parametrize("body", [
    "o\n007\n" + ROOT64 + "\n",  # leading zeros
    "o\n00\n" + ROOT64 + "\n",
    "o\n+5\n" + ROOT64 + "\n",
    "o\n-1\n" + ROOT64 + "\n",
    "o\n 5\n" + ROOT64 + "\n",
    "o\n5 \n" + ROOT64 + "\n",
    "o\n\u0663\n" + ROOT64 + "\n",  # ARABIC-INDIC DIGIT THREE
    "o\n\n" + ROOT64 + "\n",
    "\n5\n" + ROOT64 + "\n",  # empty origin
    "o\n5\n" + ROOT64,  # no final newline
    "o\n5\n",
    "o\n5\n" + base64.b64encode(b"\x00" * 31).decode() + "\n",
    "o\n5\n" + base64.b64encode(b"\x00" * 33).decode() + "\n",
    "o\n5\n" + ROOT64.rstrip("=") + "\n",
    "o\n5\n" + ROOT64[:-2] + "J=\n",  # non-canonical trailing bits
    "o\n5\n" + ROOT64.replace("/", "_") + "\n",  # URL-safe alphabet
    "o\n5\n" + ROOT64 + "\n\next\n",  # empty extension line
    "o\n5\n" + ROOT64 + "\n\x07\n",
    None,
])
def test_malformed_checkpoints_are_refused(body):
    with pytest.raises(MalformedNote):
        parse_checkpoint(body)  # type: ignore[arg-type]


def test_checkpoint_body_refuses_bad_fields():
    root = b"\x00" * 32
    for args in [("", 1, root), ("a\nb", 1, root), ("o", -1, root), ("o", True, root), ("o", 1.0, root),
                 ("o", 1, root[:31]), ("o", 1, "00" * 32)]:
        with pytest.raises(MalformedNote):
            checkpoint_body(*args)  # type: ignore[arg-type]
    for ext in ([""], ["a\nb"]):
        with pytest.raises(MalformedNote):
            checkpoint_body("o", 1, root, ext)
