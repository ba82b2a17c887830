"""What the verifiable log's calls answer (api/http/routes/log.py), as pydantic models."""

from __future__ import annotations

from pydantic import Field

from api.http.models import Answer


class StoredEvent(Answer):
    """An event exactly as stored: enough to recompute its chain hash and leaf hash (docs/verifiable-log.md)."""

    topic: str
    originator_id: str
    originator_version: int
    state: str = Field(description="the stored state, JSON text as the store keeps it")


class LogKey(Answer):
    name: str
    public_key: str = Field(description="the raw Ed25519 public key, base64")
    vkey: str = Field(description="the C2SP verifier key string name+keyid+base64(0x01 ‖ key)")


class Cosignature(Answer):
    witness: str | None
    vkey: str
    line: str
    cosigned_at: str


class Checkpoint(Answer):
    origin: str
    size: int
    root: str = Field(description="hex")
    note: str = Field(description="the C2SP signed note: checkpoint body, blank line, signature line")
    cosignatures: list[Cosignature]


class Inclusion(Answer):
    index: int
    size: int
    leaf_hash: str
    root: str
    proof: list[str]


class Consistency(Answer):
    first: int
    second: int
    proof: list[str]


class Leaf(Answer):
    index: int
    hash: str
    leaf_hash: str
    event: StoredEvent | None = None


class Leaves(Answer):
    year: int
    start: int
    end: int
    size: int
    leaves: list[Leaf]


class Cosigned(Answer):
    year: int
    size: int
    root: str
    witnesses: list[str]
    cosignatures: list[Cosignature]
