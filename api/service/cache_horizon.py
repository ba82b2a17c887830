"""Which cached aggregates other processes have moved on: one query per group-commit batch on PostgreSQL.

On PostgreSQL several servers write, so the library fast-forwards a cached aggregate on every `get`:
one query per command, most of a finding's share of a batch (measured: 30% of a batch of 32). A
batch instead asks once for what the store gained since its last look (each aggregate's newest
version after that position) and fast-forwards only the cached aggregates behind it; the others
are read from the cache as they are.

Why that is safe: the library appends under `LOCK TABLE ... IN EXCLUSIVE MODE`, so positions commit
in order and "nothing after position P" means nothing missed up to P. A write another process
makes after the look, before the batch saves, still conflicts on the aggregate's version at the
save; the batch is then refused as a whole and each command runs again alone, fast-forwarding
as before (api.service.writes.run_together). So a stale copy can cost a retry, never a decision.
"""

from __future__ import annotations

from typing import Any


class CacheHorizon:
    def __init__(self, app: Any):
        self.app = app
        self.position: int | None = None  # the store position of the last look

    @property
    def enabled(self) -> bool:
        repository = self.app.repository
        return bool(repository.fastforward) and repository.cache is not None \
            and self.app.env_dict().get("PERSISTENCE_MODULE", "").endswith("postgres")

    def behind(self) -> set[Any] | None:
        """The ids of cached aggregates with newer events in the store than in the cache; None when every
        aggregate must be fast-forwarded (not PostgreSQL, or the first look: what was cached before it
        is not known to be current)."""
        if not self.enabled:
            return None
        recorder = self.app.recorder
        table = f"{recorder.datastore.schema}.{recorder.events_table_name}"
        with recorder.datastore.transaction(commit=False) as curs:
            if self.position is None:
                curs.execute(f"SELECT COALESCE(MAX(notification_id), 0) AS head FROM {table}")
                self.position = int(curs.fetchone()["head"])
                return None
            curs.execute(f"SELECT originator_id, MAX(originator_version) AS version, MAX(notification_id) AS head "
                         f"FROM {table} WHERE notification_id > %s GROUP BY originator_id", (self.position,))
            rows = curs.fetchall()
        cache = self.app.repository.cache
        behind = set()
        for row in rows:
            self.position = max(self.position, int(row["head"]))
            try:
                cached = cache.get(row["originator_id"])
            except KeyError:
                continue  # not cached: a get loads it from the store anyway
            if cached.version < row["version"]:
                behind.add(row["originator_id"])
        return behind
