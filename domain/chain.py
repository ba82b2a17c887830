"""The hash chain (防篡改链): each stored event's SHA-256 covers its content and the previous hash.

The hash is computed over exactly what the store keeps (topic, aggregate id, version and
the event's state with its timestamp as ISO text), so `verify` can recompute it from a
stored row alone. Editing, deleting or reordering rows breaks a link.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable, Mapping

from domain.rubric import canonical_json

GENESIS = "0" * 64


def chain_hash(topic: str, originator_id: str, version: int, state: Mapping[str, Any]) -> str:
    """`state` is the event's stored state without its own `hash`, timestamp as ISO text."""
    body = {"topic": topic, "id": originator_id, "version": version, "state": state}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def history_digest(heads: Iterable[tuple[str, int, str]]) -> str:
    """One digest for a whole history: SHA-256 over every chain's (id, version, head), sorted."""
    lines = "\n".join(f"{i} {v} {h}" for i, v, h in sorted(heads))
    return hashlib.sha256(lines.encode()).hexdigest()
