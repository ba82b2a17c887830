"""The audit log (审计日志): every event, flattened, oldest first; per district or per year."""

from __future__ import annotations

from projections.catchup import Fact, dumps
from projections.store import ViewStore


class AuditLog:
    name = "audit_log"

    def apply(self, views: ViewStore, fact: Fact) -> None:
        views.execute(
            "INSERT INTO view_audit (position, year, aggregate_id, kind, district, version, recorded_at, actor, "
            "type, data, hash, prev_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (position) DO NOTHING",
            (
                fact.position, fact.year, fact.aggregate_id, fact.kind, fact.district, fact.version,
                fact.recorded_at, dumps(fact.actor), fact.type, dumps(fact.data), fact.hash, fact.prev_hash,
            ),
        )

    def finish(self, views: ViewStore) -> None:
        pass
