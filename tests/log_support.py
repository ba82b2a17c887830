"""What the verifiable-log tests share: direct SQL on the events table of either store (as an insider with the
database would edit it), the command line's environment for that store, and JSON files to keep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson

from domain.chain import chain_hash
from domain.ledger import ledger_id


class EventsTable:
    """The store's events table, edited behind the service's back (SQLite file or PostgreSQL schema)."""

    def __init__(self, app: Any):
        self.app = app
        self.postgres = app.views.is_postgres
        self.table = app.recorder.events_table_name

    def _connect(self) -> Any:
        if self.postgres:
            import psycopg

            env = self.app.env
            conn = psycopg.connect(dbname=env.get("POSTGRES_DBNAME"), host=env.get("POSTGRES_HOST"),
                                   port=env.get("POSTGRES_PORT"), user=env.get("POSTGRES_USER"), autocommit=True)
            conn.execute(f"SET search_path TO {env.get('POSTGRES_SCHEMA')}")
            return conn
        import sqlite3

        return sqlite3.connect(self.app.env.get("SQLITE_DBNAME"), isolation_level=None)

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        conn = self._connect()
        try:
            cur = conn.execute(sql.replace("?", "%s") if self.postgres else sql, params)
            return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()

    def _id(self, aggregate: UUID) -> Any:
        return aggregate if self.postgres else aggregate.hex

    def ledger(self, year: int, district: str) -> list[tuple[int, str, dict]]:
        """(version, topic, stored state) of a district's ledger, oldest first."""
        rows = self.execute(f"SELECT originator_version, topic, state FROM {self.table} WHERE originator_id = ? "
                            "ORDER BY originator_version", (self._id(ledger_id(year, district)),))
        return [(int(v), t, orjson.loads(bytes(s))) for v, t, s in rows]

    def strip_signatures(self) -> int:
        """Remove the `signature` of every stored event; how many rows were changed."""
        rows = self.execute(f"SELECT originator_id, originator_version, state FROM {self.table}")
        for aggregate, version, state in rows:
            plain = {k: v for k, v in orjson.loads(bytes(state)).items() if k != "signature"}
            self.execute(f"UPDATE {self.table} SET state = ? WHERE originator_id = ? AND originator_version = ?",
                         (orjson.dumps(plain), aggregate, version))
        return len(rows)

    def delete(self, year: int, district: str, version: int) -> None:
        self.execute(f"DELETE FROM {self.table} WHERE originator_id = ? AND originator_version = ?",
                     (self._id(ledger_id(year, district)), version))

    def put(self, year: int, district: str, version: int, state: dict, *, new_version: int | None = None,
            topic: str | None = None) -> None:
        """Rewrite a row's state (and version), or insert it when `topic` is given."""
        aggregate = self._id(ledger_id(year, district))
        blob = orjson.dumps(state)
        if topic is not None:
            self.execute(f"INSERT INTO {self.table} (originator_id, originator_version, topic, state) "
                         "VALUES (?, ?, ?, ?)", (aggregate, version, topic, blob))
            return
        self.execute(f"UPDATE {self.table} SET state = ?, originator_version = ? WHERE originator_id = ? "
                     "AND originator_version = ?", (blob, new_version or version, aggregate, version))


def rehash(topic: str, aggregate: UUID, version: int, state: dict, prev_hash: str) -> dict:
    """An insider's re-hash with the code at hand (domain.chain): a valid link, but no service signature."""
    state = {k: v for k, v in state.items() if k not in ("hash", "signature")}
    state["prev_hash"] = prev_hash
    plain = {k: (v["_data_"] if isinstance(v, dict) and "_data_" in v else v) for k, v in state.items()}
    return {**state, "hash": chain_hash(topic, str(aggregate), version, plain)}


def cli_env(monkeypatch: Any, app: Any) -> None:
    """`kaohe ...` run in this process on the test's store."""
    env = app.env
    if app.views.is_postgres:
        from tests.stores import POSTGRES_URL

        monkeypatch.setenv("KAOHE_DATABASE_URL", POSTGRES_URL)
        monkeypatch.setenv("KAOHE_POSTGRES_SCHEMA", env.get("POSTGRES_SCHEMA"))
    else:
        monkeypatch.setenv("KAOHE_DATABASE_URL", f"sqlite:///{env.get('SQLITE_DBNAME')}")


def keep(folder: Path, name: str, value: Any) -> str:
    path = folder / name
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    return str(path)
