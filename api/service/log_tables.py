"""What the service keeps about its log that is not a view: every checkpoint it signed, the witnesses' keys
and their cosignatures. These tables sit beside the views but are never dropped or emptied by a rebuild
(`kaohe replay`): a checkpoint signed once is the evidence a rewritten history is checked against.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from projections.store import Transaction, ViewStore

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS log_checkpoints (
        year INTEGER NOT NULL, size BIGINT NOT NULL, root TEXT NOT NULL, note TEXT NOT NULL,
        signed_at TEXT NOT NULL, PRIMARY KEY (year, size))""",
    """CREATE TABLE IF NOT EXISTS log_witness_keys (
        vkey TEXT PRIMARY KEY, name TEXT NOT NULL, added_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS log_cosignatures (
        year INTEGER NOT NULL, vkey TEXT NOT NULL, size BIGINT NOT NULL, root TEXT NOT NULL, line TEXT NOT NULL,
        cosigned_at TEXT NOT NULL, actor TEXT NOT NULL, idempotency_key TEXT, PRIMARY KEY (year, vkey, size))""",
]
KEPT_TABLES = ("log_checkpoints", "log_witness_keys", "log_cosignatures")


def init(views: ViewStore) -> None:
    with views.transaction() as tx:
        for statement in SCHEMA:
            tx.execute(statement)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def checkpoint(views: ViewStore, year: int, size: int | None = None) -> dict[str, Any] | None:
    """The checkpoint signed at `size` (None: the largest), or None."""
    if size is None:
        rows = views.query("SELECT size, root, note, signed_at FROM log_checkpoints WHERE year = ? "
                           "ORDER BY size DESC LIMIT 1", (year,))
    else:
        rows = views.query("SELECT size, root, note, signed_at FROM log_checkpoints WHERE year = ? AND size = ?",
                           (year, size))
    return _checkpoint(year, rows[0]) if rows else None


def checkpoint_covering(views: ViewStore, year: int, index: int) -> dict[str, Any] | None:
    """The first checkpoint that includes leaf `index` (the one its write's receipt was signed at)."""
    rows = views.query("SELECT size, root, note, signed_at FROM log_checkpoints WHERE year = ? AND size > ? "
                       "ORDER BY size LIMIT 1", (year, index))
    return _checkpoint(year, rows[0]) if rows else None


def checkpoints(views: ViewStore, year: int | None = None) -> list[dict[str, Any]]:
    sql = "SELECT year, size, root, note, signed_at FROM log_checkpoints"
    rows = views.query(sql + (" WHERE year = ? ORDER BY size" if year is not None else " ORDER BY year, size"),
                       (year,) if year is not None else ())
    return [_checkpoint(y, r) for y, *r in rows]


def _checkpoint(year: int, row: Any) -> dict[str, Any]:
    size, root, note, signed_at = row
    return {"year": year, "size": int(size), "root": root, "note": note, "signed_at": signed_at}


def store_checkpoint(views: ViewStore, year: int, size: int, root: str, note: str) -> dict[str, Any]:
    """Keep a signed checkpoint unless one of that size is there already; return the one kept."""
    with views.transaction() as tx:
        return keep_checkpoint(tx, year, size, root, note)


def keep_checkpoint(tx: Transaction, year: int, size: int, root: str, note: str) -> dict[str, Any]:
    """`store_checkpoint` inside a transaction: a kept one of that size stays as it is (it is evidence, even
    if the tree now says otherwise) and is what is returned."""
    signed_at = now()
    # RETURNING, not a row count: inside PostgreSQL's pipeline (the event store's insert) only a fetch syncs.
    if tx.query("INSERT INTO log_checkpoints (year, size, root, note, signed_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (year, size) DO NOTHING RETURNING size", (year, size, root, note, signed_at)):
        return {"year": year, "size": size, "root": root, "note": note, "signed_at": signed_at}
    rows = tx.query("SELECT size, root, note, signed_at FROM log_checkpoints WHERE year = ? AND size = ?",
                    (year, size))
    return _checkpoint(year, rows[0])


def witness_keys(views: ViewStore) -> dict[str, str]:
    """vkey → name of every registered witness."""
    return dict(views.query("SELECT vkey, name FROM log_witness_keys"))


def add_witness_key(views: ViewStore, vkey: str, name: str) -> bool:
    """Register a witness key; False if it was registered already."""
    with views.transaction() as tx:
        known = tx.query("SELECT 1 FROM log_witness_keys WHERE vkey = ?", (vkey,))
        if not known:
            tx.execute("INSERT INTO log_witness_keys (vkey, name, added_at) VALUES (?, ?, ?)", (vkey, name, now()))
    return not known


def last_cosigned(views: ViewStore, year: int, vkey: str) -> tuple[int, str] | None:
    rows = views.query("SELECT size, root FROM log_cosignatures WHERE year = ? AND vkey = ? ORDER BY size DESC "
                       "LIMIT 1", (year, vkey))
    return (int(rows[0][0]), rows[0][1]) if rows else None


def cosigned_with_key(views: ViewStore, actor: str, key: str) -> list[tuple[Any, ...]]:
    return views.query("SELECT year, vkey, size, line FROM log_cosignatures WHERE actor = ? AND idempotency_key = ?",
                       (actor, key))


def store_cosignature(views: ViewStore, year: int, vkey: str, size: int, root: str, line: str, actor: str,
                      key: str | None) -> None:
    with views.transaction() as tx:
        tx.execute("INSERT INTO log_cosignatures (year, vkey, size, root, line, cosigned_at, actor, idempotency_key) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (year, vkey, size) DO NOTHING",
                   (year, vkey, size, root, line, now(), actor, key))


def cosignatures(views: ViewStore, year: int, size: int) -> list[dict[str, Any]]:
    rows = views.query("SELECT c.vkey, w.name, c.line, c.cosigned_at FROM log_cosignatures c "
                       "LEFT JOIN log_witness_keys w ON w.vkey = c.vkey WHERE c.year = ? AND c.size = ? "
                       "ORDER BY c.cosigned_at", (year, size))
    return [{"witness": name, "vkey": vkey, "line": line, "cosigned_at": at} for vkey, name, line, at in rows]
