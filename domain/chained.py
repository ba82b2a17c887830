"""A base aggregate whose every event is hash-chained to the one before it.

Each event carries `prev_hash` and `hash` (see `domain.chain`), and the actor, the
wall-clock time (the library's `timestamp`), evidence references and a note.
Event attributes are JSON primitives only (decimals and dates as text) so the hash
recomputed from a stored row is exactly the hash computed here.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from domain.chain import GENESIS, chain_hash

KAOHE_NAMESPACE = uuid5(NAMESPACE_URL, "https://kaohe.invalid/")


def named_id(*parts: object) -> UUID:
    """A stable id from names (e.g. year and district), so aggregates are found without lookups."""
    return uuid5(KAOHE_NAMESPACE, "/".join(str(p) for p in parts))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class ChainedAggregate(Aggregate):
    head: str = GENESIS

    class Event(Aggregate.Event):
        actor: dict
        prev_hash: str
        hash: str

        def apply(self, aggregate: Any) -> None:
            aggregate.head = self.hash
            self.evolve(aggregate)

        def evolve(self, aggregate: Any) -> None:
            """What the event changes in the aggregate; the head is already moved on."""

    class Started(Event, Aggregate.Created):
        pass

    def __init__(self) -> None:
        # State is set by the Started event's evolve(), so replay and creation agree.
        pass

    @classmethod
    def _start(cls, event_class: type, aggregate_id: UUID, **fields: Any) -> Any:
        timestamp = utcnow()
        fields["prev_hash"] = GENESIS
        state = {**fields, "originator_topic": get_topic(cls), "timestamp": timestamp.isoformat()}
        _stored_version(event_class, state)
        digest = chain_hash(get_topic(event_class), str(aggregate_id), 1, state)
        return cls._create(event_class, id=aggregate_id, timestamp=timestamp, hash=digest, **fields)

    def _append(self, event_class: type, **fields: Any) -> None:
        timestamp = utcnow()
        fields["prev_hash"] = self.head
        state = {**fields, "timestamp": timestamp.isoformat()}
        _stored_version(event_class, state)
        digest = chain_hash(get_topic(event_class), str(self.id), self.version + 1, state)
        self.trigger_event(event_class, timestamp=timestamp, hash=digest, **fields)

    @property
    def receipt(self) -> dict[str, Any]:
        """What a writer keeps: which chain, how long it is now, and its head."""
        return {"aggregate": str(self.id), "version": self.version, "head": self.head}


def _stored_version(event_class: type, state: dict[str, Any]) -> None:
    """The library stores `class_version` in the state of a versioned event (a first event too), so it is hashed."""
    class_version = getattr(event_class, "class_version", 1)
    if class_version > 1:
        state["class_version"] = class_version
