"""Reading the whole stored history: verify every hash chain, digest it, and replay scores fast.

`verify` trusts nothing but the stored rows: it recomputes each event's hash from its
stored state and checks the links, version by version, per aggregate. It also compares
the chain heads with those the audit log has already seen, which catches a history cut
short at its end (a deleted last event leaves no broken link behind it), and re-hashes the stored
bytes of every uploaded 证明材料 file (api.service.evidence). Snapshots are not history: the walk never reads
them; each is then compared with its ledger folded from the events (api.service.snapshots).
"""

from __future__ import annotations

import gc
from typing import Any, Iterator

import orjson
from eventsourcing.utils import resolve_topic

from api.service.evidence import check_stored
from api.service import log_verify, snapshots
from domain.chain import chain_hash, history_digest
from domain.chained import ChainedAggregate
from domain.ledger import DistrictLedger
from domain.lifecycle import LEDGER_EVENTS, DistrictHistory
from domain.scoring import DistrictScore

PAGE = 5000
# After these, a chain takes no more events (a valid link after them is still a forgery).
CLOSING_TOPICS = frozenset({"domain.ledger:DistrictLedger.Closed", "domain.year:AssessmentYear.Closed"})
UPLOAD_TOPIC = "domain.ledger:DistrictLedger.EvidenceUploaded"


def stored_events(app: Any) -> Iterator[Any]:
    """Every stored event in notification order, through the library's recorder."""
    start = 0
    while True:
        page = app.recorder.select_notifications(start=start, limit=PAGE, inclusive_of_start=False)
        if not page:
            return
        yield from page
        start = page[-1].id


def _is_chained(topic: str, cache: dict[str, bool]) -> bool:
    known = cache.get(topic)
    if known is None:
        try:
            cls = resolve_topic(topic)
            known = isinstance(cls, type) and issubclass(cls, ChainedAggregate.Event)
        except Exception:  # an unknown topic in the store is itself a finding of verify
            known = True
        cache[topic] = known
    return known


class HistoryCheck:
    """`verify`'s checks, fed one stored event at a time, in store order, then `result()`.

    `verify` feeds it from its own walk of the store; `kaohe replay` from the rebuild's single read
    (`vouched=True`: an event a signed checkpoint covers is proven by that checkpoint, see log_verify.LogCheck,
    so its own Ed25519 signature is not checked again, one check per event being 40x the cost of reading it).
    What the audit log has seen is read when the check starts: before a rebuild replaces it.
    """

    def __init__(self, app: Any, *, vouched: bool = False, before: HistoryCheck | None = None):
        self.app = app
        self.chains: dict[str, dict[str, Any]] = {}
        self.problems: list[dict[str, Any]] = []
        self.topics: dict[str, bool] = {}
        # `before`: a check made before the views were rebuilt, whose reading of the audit log this one shares.
        self.seen = before.seen if before else _heads_seen(app)
        self.seen_twice = before.seen_twice if before else _seen_twice(app)
        self.uploads: dict[str, list[dict[str, Any]]] = {}  # sha256 → the upload events that name it
        self.signatures = log_verify.Signatures(app)
        self.log = log_verify.LogCheck(app, self.signatures, vouched=vouched)
        self.events = 0

    def feed(self, n: Any, state: dict[str, Any] | None, error: Exception | None = None) -> None:
        """One stored event (a notification) and its state as decoded (left as it was, but for a datetime
        timestamp, which becomes its ISO text); `error`: why the state could not be decoded."""
        if not _is_chained(n.topic, self.topics):
            return
        aggregate = str(n.originator_id)
        chain = self.chains.get(aggregate)
        if chain is None:
            chain = self.chains[aggregate] = {"version": 0, "head": None, "year": None, "broken": False,
                                              "closed": False}
        self.events += 1
        problems = self.problems
        version = n.originator_version
        if state is None:
            problems.append({**_where(aggregate, n), "problem": f"stored state cannot be read: {error}"})
            chain["broken"] = True
            return
        if version == 1:
            chain["year"] = state.get("year")
        if n.topic == UPLOAD_TOPIC and isinstance(state.get("sha256"), str):
            self.uploads.setdefault(state["sha256"], []).append({**_where(aggregate, n), "size": state.get("size")})
        # Hashed: the state without its hash and signature (the signature is over the hash), timestamp as ISO
        # text. Taken out and put back rather than copied: this runs once per stored event.
        stored_hash = state.pop("hash", None)
        signature = state.pop("signature", None)
        stamp = state.get("timestamp")
        if hasattr(stamp, "isoformat"):
            state["timestamp"] = stamp.isoformat()
        try:
            edited = chain_hash(n.topic, aggregate, version, state) != stored_hash
            prev_hash = state.get("prev_hash")
        finally:
            if stored_hash is not None:
                state["hash"] = stored_hash
            if signature is not None:
                state["signature"] = signature
        if version != chain["version"] + 1:
            problems.append({**_where(aggregate, n),
                             "problem": f"expected version {chain['version'] + 1}: an event was deleted or reordered"})
            chain["broken"] = True
        elif chain["version"] and prev_hash != chain["head"]:
            problems.append({**_where(aggregate, n), "problem": "prev_hash does not match the previous event's hash"})
            chain["broken"] = True
        if edited:
            problems.append({**_where(aggregate, n),
                             "problem": "hash does not match the stored content: the event was edited"})
            chain["broken"] = True
        if chain["closed"]:
            problems.append({**_where(aggregate, n), "problem": "recorded after the year was closed in this chain"})
        covered = False
        if chain["year"] is not None and isinstance(stored_hash, str):
            covered = self.log.add(chain["year"], stored_hash)
        if stored_hash and not (self.signatures.vouched(signature) if covered
                                else self.signatures.ok(stored_hash, signature)):
            problems.append({**_where(aggregate, n), "problem": self.signatures.problem(signature)})
        chain["closed"] = chain["closed"] or n.topic in CLOSING_TOPICS
        chain["version"], chain["head"] = version, stored_hash
        head_seen = self.seen.get(aggregate)
        if head_seen and head_seen[0] == version and head_seen[1] != stored_hash:
            problems.append({**_where(aggregate, n), "problem": "differs from the event the audit log saw at this "
                                                                "version: history was rewritten"})

    def result(self, year: int | None = None, *, scores: bool = True) -> dict[str, Any]:
        """The verdict. `scores`: also recompute every breakdown against the views (pointless right after a
        rebuild, which has just written them from these very events with the same fold)."""
        app, chains, events = self.app, self.chains, self.events
        problems = [*self.problems, *_missing_since_seen(self.seen, chains), *check_stored(app.views, self.uploads),
                    *self.seen_twice]
        if scores:  # after the chains, which are checked from the events alone (a replay writes no snapshot)
            problems.extend(snapshots.problems(app))
        if year is not None:
            mine = {a for a, c in chains.items() if c["year"] == year or c["year"] is None}
            chains = {a: c for a, c in chains.items() if a in mine}
            problems = [p for p in problems if p["aggregate"] in mine]
            events = None if chains else 0
        # After the chains' own problems, so the first broken link stays first.
        signatures = self.signatures
        problems.extend(self.log.problems(year, began=signatures.began or signatures.verifier is None))
        if scores:
            problems.extend(log_verify.check_scores(app, year))
        return {
            "notes": signatures.notes(),
            "ok": not problems,
            "events": events if events is not None else sum(c["version"] for c in chains.values()),
            "chains": len(chains),
            "head": history_digest((a, c["version"], c["head"] or "") for a, c in chains.items()),
            "problems": problems[:50],
            "first_broken": problems[0] if problems else None,
        }


def _where(aggregate: str, n: Any) -> dict[str, Any]:
    return {"aggregate": aggregate, "version": n.originator_version, "position": n.id}


def verify(app: Any, year: int | None = None, before: HistoryCheck | None = None) -> dict[str, Any]:
    """Walk every chain; `ok` only if every link, hash and signature holds. Problems name the first break."""
    check = HistoryCheck(app, before=before)
    decode = app.mapper.transcoder.decode
    for n in stored_events(app):
        try:
            state = decode(n.state)
        except Exception as e:
            check.feed(n, None, e)
            continue
        check.feed(n, state)
    return check.result(year)


def _heads_seen(app: Any) -> dict[str, tuple[int, str, int]]:
    """Per aggregate, the last event the audit log has seen: (version, hash, position).

    The store must still hold that event, unchanged, however many events came after it: a
    chain cut short and then continued has valid links, but not the event once seen.
    """
    rows = app.views.query(
        "SELECT e.aggregate_id, e.version, e.hash, e.position FROM view_audit e JOIN ("
        " SELECT aggregate_id, MAX(version) AS v FROM view_audit GROUP BY aggregate_id) m"
        " ON e.aggregate_id = m.aggregate_id AND e.version = m.v")
    return {aggregate: (version, digest, position) for aggregate, version, digest, position in rows}


def _seen_twice(app: Any) -> list[dict[str, Any]]:
    """Two different events seen at one version of one chain: the first was removed and replaced."""
    rows = app.views.query(
        "SELECT aggregate_id, version, MIN(position) FROM view_audit GROUP BY aggregate_id, version HAVING COUNT(*) > 1")
    return [{"aggregate": aggregate, "version": version, "position": position,
             "problem": "the audit log saw two different events at this version: history was rewritten"}
            for aggregate, version, position in rows]


def _missing_since_seen(seen: dict[str, tuple[int, str, int]], chains: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    problems = []
    for aggregate, (version, _, position) in seen.items():
        stored = chains[aggregate]["version"] if aggregate in chains else 0
        if stored < version:
            problems.append({"aggregate": aggregate, "version": version, "position": position,
                             "problem": f"the store ends at version {stored} but version {version} was seen: "
                                        "events were deleted"})
    return problems


def store_digest(app: Any, year: int) -> str:
    return verify(app, year)["head"]


# --- fast replay of scores -------------------------------------------------------

LEDGER_TOPICS = {f"domain.ledger:DistrictLedger.{name}": name for name in ("Opened", *sorted(LEDGER_EVENTS))}


def raw_rows(app: Any) -> Iterator[tuple[Any, str, bytes]]:
    """(originator_id, topic, state) straight from the events table, in notification order."""
    recorder = app.recorder
    table = recorder.events_table_name
    schema = app.env.get("POSTGRES_SCHEMA") if app.views.is_postgres else None
    if schema:
        table = f"{schema}.{table}"
    sql = f"SELECT originator_id, topic, state FROM {table} ORDER BY notification_id"
    if app.views.is_postgres:
        from psycopg.rows import tuple_row

        with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(sql)
            yield from cur
    else:
        import sqlite3

        from projections.store import sqlite_read_only_uri

        # The views' settings hold the file's path (the library's may already be a read-only URI).
        conn = sqlite3.connect(sqlite_read_only_uri(app.views.env["SQLITE_DBNAME"]), uri=True)
        try:
            yield from conn.execute(sql.replace("notification_id", "rowid"))
        finally:
            conn.close()


def fast_scores(app: Any, year: int) -> dict[str, DistrictScore]:
    """Final breakdowns of every district of a year, without building a domain object per event.

    Reads raw rows, decodes with orjson, applies the same upcasters as the library's mapper,
    and folds with the same `DistrictHistory` as every other reader. A test shows it equals
    the library path, upcasting included.
    """
    rubric = app.rubric_of_year(year)
    return {district: history.score(rubric) for district, history in fast_histories(app, year).items()}


def fast_histories(app: Any, year: int) -> dict[str, DistrictHistory]:
    """Every district's history of a year folded from the raw rows (see `fast_scores`)."""
    # Building a million small objects that all stay alive makes the cyclic GC rescan the
    # growing heap again and again (measured: most of the time); none of them form cycles.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _fast_histories(app, year)
    finally:
        if gc_was_enabled:
            gc.enable()


def _fast_histories(app: Any, year: int) -> dict[str, DistrictHistory]:
    upcasters = _upcasters()
    owners: dict[Any, str] = {}
    histories: dict[Any, DistrictHistory] = {}
    loads, topics, record = orjson.loads, LEDGER_TOPICS, DistrictHistory.record
    for originator_id, topic, state in raw_rows(app):
        name = topics.get(topic)
        if name is None:
            continue
        data = loads(state)
        upcaster = upcasters.get(name)
        if upcaster is not None and data.get("class_version", 1) != upcaster[0]:
            upcaster[1](data)
        if name == "Opened":
            if data["year"] == year:
                owners[originator_id] = data["district"]
                histories[originator_id] = DistrictHistory()
            continue
        history = histories.get(originator_id)
        if history is None:
            continue
        if name == "FindingRecorded":
            record(history, data, None)  # nine events in ten: the fold's own handler, without the dispatch
        else:
            history.apply(name, data)
    return {district: histories[originator_id] for originator_id, district in owners.items()}


def _upcasters() -> dict[str, Any]:
    """Per event name, a function bringing a stored state up to the class's current version."""
    result = {}
    for name in set(LEDGER_TOPICS.values()):  # every event the replay reads, not only today's versioned one
        cls = getattr(DistrictLedger, name)
        current = getattr(cls, "class_version", 1)
        if current > 1:
            def upcast(data: dict[str, Any], cls: Any = cls, current: int = current) -> None:
                version = data.pop("class_version", 1)
                while version < current:
                    getattr(cls, f"upcast_v{version}_v{version + 1}")(data)
                    version += 1
            result[name] = (current, upcast)
    return result
