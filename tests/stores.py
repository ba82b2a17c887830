"""The two event stores the suite runs against: a temp SQLite file, and a fresh schema on PostgreSQL.

PostgreSQL tests use the server at KAOHE_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test).
Where none answers they skip with the reason, unless KAOHE_REQUIRE_POSTGRES=1 (as in .ci/run): then they fail.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import Iterator

import pytest

POSTGRES_URL = os.environ.get("KAOHE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
STORES = ["sqlite", "postgres"]


def postgres_or_skip() -> None:
    import psycopg

    try:
        psycopg.connect(_conninfo(), connect_timeout=3).close()
    except Exception as e:  # noqa: BLE001 - any failure to connect means "no server here"
        reason = f"no PostgreSQL server at {POSTGRES_URL} ({type(e).__name__}: {str(e).strip()[:120]})"
        if os.environ.get("KAOHE_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + "; KAOHE_REQUIRE_POSTGRES=1 makes this a failure")
        pytest.skip(reason)


def _conninfo() -> str:
    return POSTGRES_URL


@contextmanager
def store_url(kind: str, tmp_path) -> Iterator[tuple[str, dict[str, str]]]:
    """A database URL (and extra env) for a fresh, empty store of the given kind."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/kaohe.sqlite3", {}
        return
    postgres_or_skip()
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield POSTGRES_URL, {"POSTGRES_SCHEMA": schema}
    finally:
        with psycopg.connect(_conninfo(), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def leader_sessions(schema: str) -> int:
    """Sessions holding the views' leader lock of the store in `schema` (projections.leader): 1 while servers run."""
    import psycopg

    from projections.leader import LEADER_LOCK
    from projections.store import store_key

    with psycopg.connect(_conninfo(), autocommit=True) as conn:
        return conn.execute(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = %s AND objid = %s",
            (LEADER_LOCK, store_key({"POSTGRES_SCHEMA": schema}) & 0xFFFFFFFF)).fetchone()[0]
