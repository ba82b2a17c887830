"""Where events live: the store's URL → the eventsourcing library's environment, and the orjson transcoder.

`KAOHE_DATABASE_URL` picks the store: `sqlite:///path` (default `./var/kaohe.sqlite3`) or
`postgresql://user:pass@host:port/db`. The read-side views live in the same database.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlparse

import orjson
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, Transcoding, UUIDAsHex

from domain.lifecycle import DistrictHistory

DEFAULT_URL = "sqlite:///./var/kaohe.sqlite3"


def database_url() -> str:
    return os.environ.get("KAOHE_DATABASE_URL") or DEFAULT_URL


def library_env(url: str, *, create: bool = True) -> dict[str, str]:
    """The eventsourcing environment for a database URL (`create`: make the SQLite file's folder)."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = sqlite_path(url)
        if path != ":memory:" and create:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path, "SQLITE_LOCK_TIMEOUT": "10"}
    if parsed.scheme in ("postgresql", "postgres"):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parsed.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            "POSTGRES_SCHEMA": os.environ.get("KAOHE_POSTGRES_SCHEMA", ""),
        }
    raise ValueError(f"KAOHE_DATABASE_URL must start with sqlite:/// or postgresql:// (got {url!r})")


SETUP_LOCK = 20180621  # pg_advisory_lock(SETUP_LOCK, store_key): one process at a time makes the tables


@contextmanager
def setup_lock(env: dict[str, str]) -> Iterator[None]:
    """Held while a process creates the store's tables on PostgreSQL (the library's, the views', the log's).

    `kaohe serve --workers 4` starts four processes at once; their `CREATE ... IF NOT EXISTS` statements, run
    concurrently on the same catalog rows, fail with "tuple concurrently updated", and uvicorn then stops every
    worker. A session advisory lock (freed by the server if the process dies) makes them take turns.
    """
    if not env["PERSISTENCE_MODULE"].endswith("postgres"):
        yield
        return
    import psycopg

    from projections.store import postgres_settings, store_key

    with psycopg.connect(**postgres_settings(env)) as conn:
        conn.execute("SELECT pg_advisory_lock(%s, %s)", (SETUP_LOCK, store_key(env)))
        yield  # the lock ends with the session, when the connection closes


def sqlite_path(url: str) -> str:
    # sqlite:///relative/path and sqlite:////absolute/path, as SQLAlchemy spells them.
    path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url[len("sqlite://"):]
    return path or ":memory:"


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class DistrictHistoryAsState(Transcoding):
    """A ledger's folded history in a snapshot (api.service.snapshots), as the JSON values of its `to_state`.

    The transcoder never walks inside a tagged value, so its thousands of findings are read by orjson alone
    (in C) and handed to `from_state` as they are. Events never hold one.
    """

    type = DistrictHistory
    name = "district_history"

    def encode(self, obj: DistrictHistory) -> dict:
        return obj.to_state()

    def decode(self, data: dict) -> DistrictHistory:
        return DistrictHistory.from_state(data)


class OrjsonTranscoder(JSONTranscoder):
    """The library's JSON format (tagged `_type_`/`_data_` objects), written and read by orjson.

    orjson would write UUIDs, dates and datetimes natively and read them back as text, so
    encode() tags every non-JSON value first; decode() untags. Both transcoders read each
    other's output.
    """

    def __init__(self) -> None:
        super().__init__()
        for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO(), DistrictHistoryAsState()):
            self.register(transcoding)

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(self._tag(obj))

    def decode(self, data: bytes) -> Any:
        return self._untag(orjson.loads(data))

    def _tag(self, obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: self._tag(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self._tag(v) for v in obj]
        if obj is None or isinstance(obj, (str, int, float, bool)):
            return obj
        return self._encode_obj(obj)  # raises for an unregistered type

    def _untag(self, obj: Any) -> Any:
        # Exact types, and no call for a plain value: every stored event read passes through here (a cold load
        # of a ledger folds up to a snapshot interval of them).
        kind = type(obj)
        if kind is dict:
            if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
                return self._decode_obj(obj)
            return {k: v if type(v) in _PLAIN else self._untag(v) for k, v in obj.items()}
        if kind is list:
            return [v if type(v) in _PLAIN else self._untag(v) for v in obj]
        return obj


_PLAIN = frozenset((str, int, float, bool, type(None)))  # what orjson reads that holds no tagged value
