"""The audit log (审计日志): every event, flattened, oldest first; per district or per year."""

from __future__ import annotations

from projections.catchup import HISTORY, Fact, dumps
from projections.store import ViewStore

INSERT = (
    "INSERT INTO view_audit (position, year, aggregate_id, kind, district, version, recorded_at, actor, "
    "type, data, hash, prev_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (position) DO NOTHING"
)


class AuditLog:
    name = "audit_log"

    def __init__(self) -> None:
        self._rows: list[tuple] = []

    def apply(self, views: ViewStore, fact: Fact) -> None:
        if fact.kind not in HISTORY:
            return  # idempotency records are bookkeeping of the write path, not assessment history
        # Rows are written together at the end of the batch (one round trip on PostgreSQL).
        self._rows.append((
            fact.position, fact.year, fact.aggregate_id, fact.kind, fact.district, fact.version,
            fact.recorded_at, dumps(fact.actor), fact.type, dumps(fact.data), fact.hash, fact.prev_hash,
        ))

    def finish(self, views: ViewStore) -> None:
        rows, self._rows = self._rows, []
        views.executemany(INSERT, rows)

    def forget(self) -> None:
        self._rows = []
