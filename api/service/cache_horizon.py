"""Which cached ledgers other processes have moved on: one query per group-commit batch on PostgreSQL.

On PostgreSQL several servers write, so the library fast-forwards a cached aggregate on every `get`:
one query per command, most of a finding's share of a batch (measured: 30% of a batch of 32). A
batch instead asks once what the store gained since the last look (each aggregate's newest version
after that position), marks the cached ones behind it stale, and reads the other cached ledgers as
they are; a stale one is fast-forwarded when next got, and is current again from then on.

Why that is safe:
- The library appends under `LOCK TABLE ... IN EXCLUSIVE MODE`, so positions commit in order and
  "nothing after position P" means nothing missed up to P. (Not so with the library's database
  functions, `POSTGRES_ENABLE_DB_FUNCTIONS`: then every get fast-forwards, as before.)
- The first look cannot know what was cached before it: everything cached then is marked stale. So is
  everything when others wrote more than MOST_EVENTS since the last look (a look never reads a flood).
- A write another process makes after the look, before the batch saves, conflicts on the ledger's
  version at the save; the batch is then refused as a whole and each command runs again alone,
  fast-forwarding as before (api.service.writes.run_together). A stale copy costs a retry.
- Only ledgers are read this way, and a command that reads one without fast-forward must save that
  ledger (checked in `WritePath._write_once_saved`): its decision is then guarded by the version
  check. The year is looked at on its own clock (`_recent_year`), idempotency records always
  fast-forward.
"""

from __future__ import annotations

from typing import Any

from domain.ledger import DistrictLedger

MOST_EVENTS = 20_000  # store positions a look reads at most; beyond, every cached aggregate is fast-forwarded


class CacheHorizon:
    """Used under the application's write lock only."""

    def __init__(self, app: Any):
        self.app = app
        self.position: int | None = None  # the store position of the last look
        self.stale: set[Any] = set()  # cached aggregates with newer events in the store than in the cache
        self._enabled: bool | None = None

    @property
    def enabled(self) -> bool:
        if self._enabled is None:
            repository, recorder = self.app.repository, self.app.recorder
            self._enabled = bool(repository.fastforward) and repository.cache is not None \
                and self.app.env_dict().get("PERSISTENCE_MODULE", "").endswith("postgres") \
                and not getattr(recorder.datastore, "enable_db_functions", False)
        return self._enabled

    def look(self) -> None:
        """What other processes wrote since the last look: those of them cached here are stale."""
        if not self.enabled:
            return
        recorder = self.app.recorder
        table = f"{recorder.datastore.schema}.{recorder.events_table_name}"
        with recorder.datastore.transaction(commit=False) as curs:
            curs.execute(f"SELECT COALESCE(MAX(notification_id), 0) AS head FROM {table}")
            head = int(curs.fetchone()["head"])
            if self.position is None or head - self.position > MOST_EVENTS:
                # The first look, or others wrote so much since the last one (a bulk import elsewhere) that
                # reading it all here would hold the write lock: distrust the whole cache instead.
                self.position = head
                self.stale.update(self._cached_ids())
                return
            curs.execute(f"SELECT originator_id, MAX(originator_version) AS version FROM {table} "
                         f"WHERE notification_id > %s AND notification_id <= %s GROUP BY originator_id",
                         (self.position, head))
            rows = curs.fetchall()
        self.position = head
        for row in rows:
            cached = self._peek(row["originator_id"])
            if cached is not None and cached.version < row["version"]:
                self.stale.add(row["originator_id"])

    def current(self, aggregate_id: Any) -> DistrictLedger | None:
        """The cached ledger, if the looks so far say the store has nothing newer for it; else None."""
        if not self.enabled or self.position is None or aggregate_id in self.stale:
            return None
        cached = self._peek(aggregate_id)
        return cached if isinstance(cached, DistrictLedger) else None

    def forwarded(self, aggregate_id: Any) -> None:
        """The aggregate was just read through the library (fast-forwarded or loaded): current again."""
        self.stale.discard(aggregate_id)

    def _peek(self, aggregate_id: Any) -> Any:
        """The cached aggregate without touching its recency (a look must not keep others' ledgers cached)."""
        cache = self.app.repository.cache
        entry = cache.cache.get(aggregate_id)
        if entry is None:
            return None
        return entry[cache.RESULT] if hasattr(cache, "RESULT") else entry  # LRUCache keeps links, Cache values

    def _cached_ids(self) -> list[Any]:
        cache = self.app.repository.cache
        lock = getattr(cache, "lock", None)  # the LRU cache's own: request threads put into it meanwhile
        if lock is None:
            return list(cache.cache)
        with lock:
            return list(cache.cache)
