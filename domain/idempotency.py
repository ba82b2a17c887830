"""Idempotency records: a command retried with the same key returns its first result.

One aggregate per key (uuid5 of the key), saved in the same transaction as the command's
events, so a key is taken exactly once even when two retries race.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.chained import named_id


def idempotency_id(scope: str, key: str) -> UUID:
    return named_id("idempotency", scope, key)


class IdempotencyRecord(Aggregate):
    class Taken(Aggregate.Created):
        fingerprint: str
        response: dict

    def __init__(self, fingerprint: str, response: dict) -> None:
        self.fingerprint = fingerprint
        self.response = response

    @classmethod
    def take(cls, *, scope: str, key: str, fingerprint: str, response: dict) -> IdempotencyRecord:
        return cls._create(cls.Taken, id=idempotency_id(scope, key), fingerprint=fingerprint, response=response)
