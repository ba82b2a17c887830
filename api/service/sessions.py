"""Web sessions (会话): a random id in the browser's cookie, only its SHA-256 in the database, an
expiry, ended by sign-out; and the per-session CSRF token the pages' forms carry.

A session speaks for the token it was opened with, asked again on every request, so a revoked or
expired token ends its sessions too. The CSRF token is derived from the session id (HMAC), so it
needs no storage and is useless without the session; see api.web.csrf for the check.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from datetime import datetime, timedelta, timezone

from api.service import tokens
from api.service.writes import refused_by_store, unavailable
from domain.actors import Actor
from projections.store import ViewStore

SCHEMA = """CREATE TABLE IF NOT EXISTS kaohe_sessions (
    session_hash TEXT PRIMARY KEY, token_hash TEXT NOT NULL, created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL, ended_at TEXT)"""
DEFAULT_HOURS = 8.0  # one working day; `KAOHE_SESSION_HOURS` changes it



def lifetime() -> timedelta:
    return timedelta(hours=float(os.environ.get("KAOHE_SESSION_HOURS") or DEFAULT_HOURS))


def init(views: ViewStore) -> None:
    views.ensure_tables("sessions", [SCHEMA])


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def start(views: ViewStore, token: str) -> tuple[str, Actor] | None:
    """Open a session for a valid token: (session id for the cookie, actor); None for a bad token."""
    actor = tokens.actor_for(views, token)
    if actor is None:
        return None
    init(views)
    session_id = secrets.token_urlsafe(32)
    now = datetime.now(timezone.utc)
    try:
        with views.transaction() as tx:
            tx.execute("DELETE FROM kaohe_sessions WHERE expires_at < ?", (_iso(now - timedelta(days=1)),))
            tx.execute("INSERT INTO kaohe_sessions (session_hash, token_hash, created_at, expires_at) "
                       "VALUES (?, ?, ?, ?)", (_hash(session_id), tokens.token_hash(token), _iso(now),
                                                _iso(now + lifetime())))
    except Exception as e:
        if refused_by_store(e):
            raise unavailable(e) from e
        raise
    return session_id, actor


def actor_for(views: ViewStore, session_id: str | None) -> Actor | None:
    """Who a session speaks for; None when unknown, ended, expired, or its token no longer works."""
    if not session_id:
        return None
    init(views)
    rows = views.query("SELECT token_hash, expires_at, ended_at FROM kaohe_sessions WHERE session_hash = ?",
                       (_hash(session_id),))
    if not rows:
        return None
    digest, expires_at, ended_at = rows[0]
    if ended_at is not None or expires_at <= _iso(datetime.now(timezone.utc)):
        return None
    return tokens.actor_for_hash(views, digest)


def end(views: ViewStore, session_id: str | None) -> None:
    """Sign-out: the session id no longer works, whoever presents it."""
    if not session_id:
        return
    init(views)
    views.execute("UPDATE kaohe_sessions SET ended_at = ? WHERE session_hash = ? AND ended_at IS NULL",
                  (_iso(datetime.now(timezone.utc)), _hash(session_id)))


def csrf_token(session_id: str | None) -> str:
    """The token every form of this session carries (empty without a session)."""
    if not session_id:
        return ""
    return hmac.new(session_id.encode("utf-8"), b"kaohe-csrf", hashlib.sha256).hexdigest()


def csrf_ok(session_id: str | None, sent: str | None) -> bool:
    expected = csrf_token(session_id)
    return bool(expected) and bool(sent) and hmac.compare_digest(expected, str(sent))
