"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, and tlog-checkpoint bodies (c2sp.org/tlog-checkpoint).
The signatures are the `cryptography` package's Ed25519; this module only does the encodings."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from domain.errors import InvalidInput

ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # EM DASH, space
MAX_SIGNATURES = 100  # the spec asks for at least 16; golang.org/x/mod/sumdb/note stops at 100
_HEX8 = re.compile(r"[0-9a-f]{8}")
_SIZE = re.compile(r"0|[1-9][0-9]*")  # explicit ASCII digits: \d would also take other scripts' digits


class MalformedNote(InvalidInput):
    """Text that is not a well-formed signed note, key or checkpoint (→ 422)."""

    code = "malformed_note"

    def __init__(self, message: str):
        super().__init__(message)


def valid_name(name: object) -> bool:
    """Key names: non-empty, no Unicode space, no '+'."""
    return isinstance(name, str) and name != "" and "+" not in name and not any(c.isspace() for c in name) \
        and _clean(name)


_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")  # ASCII control characters but newline


def _clean(text: str) -> bool:
    """Valid UTF-8 (no lone surrogates) and no ASCII control character but newline."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return _CONTROL.search(text) is None  # every write signs two notes: a regex, not a loop in Python


def _b64decode(s: str) -> bytes | None:
    """Standard base64, canonical only (so one key or signature has one spelling)."""
    try:
        raw = base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == s else None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def key_id(name: str, public_key: bytes, alg: int = ALG_ED25519) -> bytes:
    """SHA-256(name ‖ 0x0A ‖ alg ‖ public key)[:4]."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()[:4]


def vkey_string(name: str, public_key: bytes) -> str:
    return f"{name}+{key_id(name, public_key).hex()}+{_b64(bytes([ALG_ED25519]) + public_key)}"


def _parse_key(parts: list[str], what: str) -> tuple[str, bytes, bytes]:
    """name, hex key id, base64(0x01 ‖ 32 bytes) → (name, key id, 32 key bytes)."""
    if len(parts) != 3:
        raise MalformedNote(f"malformed {what}")
    name, hex8, b64 = parts
    raw = _b64decode(b64)
    if not valid_name(name) or not _HEX8.fullmatch(hex8) or raw is None:
        raise MalformedNote(f"malformed {what}")
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise MalformedNote(f"{what}: not an Ed25519 (0x01) key")
    return name, bytes.fromhex(hex8), raw[1:]


class Verifier:
    """A verifier key `name+<hex key id>+<base64(0x01 ‖ public key)>`."""

    def __init__(self, vkey: str):
        if not isinstance(vkey, str):
            raise MalformedNote("malformed verifier key")
        self.name, self.key_id, self.public_key_bytes = _parse_key(vkey.split("+", 2), "verifier key")
        if key_id(self.name, self.public_key_bytes) != self.key_id:
            raise MalformedNote("verifier key: key id does not match name and key")
        self.vkey = vkey
        self._key = Ed25519PublicKey.from_public_bytes(self.public_key_bytes)

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> "Verifier":
        return cls(vkey_string(name, public_key))

    def verify_signature(self, body: str, signature: bytes) -> bool:
        try:
            self._key.verify(signature, body.encode("utf-8"))
        except (InvalidSignature, ValueError):
            return False
        return True

    def verify(self, note: str) -> bool:
        """True iff the note is well formed, has a line by this key, and every such line verifies.

        A failing line from a known key rejects the note (signed-note: "clients SHOULD reject").
        """
        try:
            body, sigs = parse_note(note)
        except MalformedNote:
            return False
        mine = [sig for name, kid, sig in sigs if name == self.name and kid == self.key_id]
        return bool(mine) and all(self.verify_signature(body, sig) for sig in mine)

    def __repr__(self) -> str:
        return f"Verifier({self.vkey!r})"


class Signer:
    """A signer key `PRIVATE+KEY+name+<hex key id>+<base64(0x01 ‖ 32-byte seed)>`."""

    def __init__(self, skey: str):
        parts = skey.split("+", 4) if isinstance(skey, str) else []  # base64 may contain "+"
        if parts[:2] != ["PRIVATE", "KEY"]:
            raise MalformedNote("malformed signer key")
        self.name, kid, seed = _parse_key(parts[2:], "signer key")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key_bytes = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(self.name, self.public_key_bytes)
        if kid != self.key_id:  # the id names the public key, so it is checked after deriving it
            raise MalformedNote("signer key: key id does not match name and key")
        self.skey = skey
        self.vkey = vkey_string(self.name, self.public_key_bytes)

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> "Signer":
        if not valid_name(name):
            raise MalformedNote(f"invalid key name {name!r}")
        public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return cls(f"PRIVATE+KEY+{name}+{key_id(name, public).hex()}+{_b64(bytes([ALG_ED25519]) + seed)}")

    @classmethod
    def generate(cls, name: str) -> "Signer":
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls.from_seed(name, seed)

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.vkey)

    def sign_line(self, body: str) -> str:
        """The signature line `— <name> <base64(key id ‖ signature)>\\n` over the note text `body`."""
        _check_body(body)
        signature = self._key.sign(body.encode("utf-8"))
        return f"{SIG_PREFIX}{self.name} {_b64(self.key_id + signature)}\n"

    def sign(self, body: str) -> str:
        return body + "\n" + self.sign_line(body)

    def __repr__(self) -> str:  # never the seed
        return f"Signer(vkey={self.vkey!r})"


def _check_body(body: str) -> None:
    if not isinstance(body, str) or not body.endswith("\n") or not _clean(body):
        raise MalformedNote("note text must be UTF-8 without control characters and end with a newline")


def parse_note(text: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """(note text, [(key name, 4-byte key id, signature)]) of a signed note; MalformedNote otherwise.

    As c2sp.org/signed-note says, the text may contain blank lines: it ends at the last one.
    """
    if not isinstance(text, str) or not _clean(text):
        raise MalformedNote("a note is UTF-8 without control characters other than newline")
    split = text.rfind("\n\n")
    if split < 0:
        raise MalformedNote("no blank line before the signatures")
    body, block = text[: split + 1], text[split + 2:]
    if not block or not block.endswith("\n"):
        raise MalformedNote("signature lines must be present and end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote("too many signatures")
    sigs: list[tuple[str, bytes, bytes]] = []
    for line in lines:
        if not line.startswith(SIG_PREFIX):
            raise MalformedNote("a signature line starts with an em dash and a space")
        name, _, b64 = line[len(SIG_PREFIX):].partition(" ")
        raw = _b64decode(b64)
        if not valid_name(name) or raw is None or len(raw) < 5:
            raise MalformedNote(f"malformed signature line {line!r}")
        sigs.append((name, raw[:4], raw[4:]))
    return body, sigs


def add_signature(note: str, signer: Signer) -> str:
    """The note with `signer`'s line added (a cosignature); an older line by the same key is replaced."""
    body, sigs = parse_note(note)
    lines = [f"{SIG_PREFIX}{name} {_b64(kid + sig)}\n" for name, kid, sig in sigs
             if (name, kid) != (signer.name, signer.key_id)]
    return body + "\n" + "".join(lines) + signer.sign_line(body)


def checkpoint_body(origin: str, size: int, root: bytes, extensions: Iterable[str] = ()) -> str:
    """`<origin>\\n<size>\\n<base64 root>\\n` and any extension lines."""
    extensions = list(extensions)
    if not isinstance(origin, str) or not origin or "\n" in origin or not _clean(origin):
        raise MalformedNote("checkpoint origin must be one non-empty line")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise MalformedNote("checkpoint size must be an integer >= 0")
    if not isinstance(root, (bytes, bytearray)) or len(root) != 32:
        raise MalformedNote("checkpoint root must be 32 bytes")
    for ext in extensions:
        if not isinstance(ext, str) or not ext or "\n" in ext or not _clean(ext):
            raise MalformedNote("checkpoint extension lines must be non-empty single lines")
    return "".join(line + "\n" for line in [origin, str(size), _b64(bytes(root)), *extensions])


def parse_checkpoint(body: str) -> tuple[str, int, bytes]:
    """(origin, size, root) of a checkpoint note text; extension lines are allowed and ignored."""
    if not isinstance(body, str) or not body.endswith("\n") or not _clean(body):
        raise MalformedNote("a checkpoint is UTF-8 text ending with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3 or any(line == "" for line in lines):
        raise MalformedNote("a checkpoint has at least three lines, none empty")
    origin, size_text, root_text = lines[:3]
    if not _SIZE.fullmatch(size_text):
        raise MalformedNote("checkpoint size must be decimal without leading zeros")
    root = _b64decode(root_text)
    if root is None or len(root) != 32:
        raise MalformedNote("checkpoint root must be the base64 of 32 bytes")
    return origin, int(size_text), root
