"""API tokens (访问令牌): who a bearer token speaks for, stored only as its SHA-256.

Tokens are not events: they live in their own table beside the views and survive a
rebuild of the read side (`ViewStore.drop_all` does not touch them).
"""

from __future__ import annotations

import hashlib
import secrets
import weakref
from datetime import datetime, timezone

from domain.actors import ROLES, Actor
from domain.errors import Conflict, InvalidInput
from projections.store import ViewStore

SCHEMA = """CREATE TABLE IF NOT EXISTS kaohe_tokens (
    token_hash TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, role TEXT NOT NULL,
    department TEXT, district TEXT, created_at TEXT NOT NULL)"""

_ready: weakref.WeakSet[ViewStore] = weakref.WeakSet()
_known: weakref.WeakKeyDictionary[ViewStore, dict[str, Actor]] = weakref.WeakKeyDictionary()


def init(views: ViewStore) -> None:
    """Create the token table if it is not there yet (once per connection)."""
    if views in _ready:
        return
    with views.transaction() as tx:
        tx.execute(SCHEMA)
    _ready.add(views)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(views: ViewStore, name: str, role: str, department: str | None = None,
                 district: str | None = None) -> str:
    """Store a new token for an actor and return it; only its hash is kept."""
    name = _text(name)
    department = _text(department)
    district = _text(district)
    if not name:
        raise InvalidInput("name 不能为空 (a token needs a name)", field="name")
    if role not in ROLES:
        raise InvalidInput(f"未知角色 {role!r} (role must be one of {', '.join(ROLES)})", field="role")
    for field, value, needed_by in (("department", department, "department"), ("district", district, "district")):
        if role == needed_by and not value:
            raise InvalidInput(f"角色 {role} 必须指定 {field} (role {role} needs --{field})", field=field)
        if role != needed_by and value:
            raise InvalidInput(f"只有角色 {needed_by} 可以指定 {field} ({field} is only for role {needed_by})",
                               field=field)
    init(views)
    token = secrets.token_urlsafe(32)
    created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with views.transaction() as tx:  # the write lock: the name check and the insert cannot interleave
        if tx.query("SELECT 1 FROM kaohe_tokens WHERE name = ?", (name,)):
            raise Conflict(f"令牌名称 {name!r} 已存在 (a token named {name!r} already exists)", field="name")
        tx.execute(
            "INSERT INTO kaohe_tokens (token_hash, name, role, department, district, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (token_hash(token), name, role, department, district, created_at),
        )
    return token


def actor_for(views: ViewStore, token: str | None) -> Actor | None:
    """The actor a token speaks for, or None for a missing or unknown token."""
    if not token:
        return None
    digest = token_hash(token)
    known = _known.setdefault(views, {})
    actor = known.get(digest)
    if actor is not None:  # tokens are never changed once made, so a found one can be remembered
        return actor
    init(views)
    rows = views.query("SELECT name, role, department, district FROM kaohe_tokens WHERE token_hash = ?", (digest,))
    if not rows:
        return None  # not remembered: a token made later by `kaohe token create` must be found then
    name, role, department, district = rows[0]
    actor = known[digest] = Actor(name=name, role=role, department=department, district=district)
    return actor


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None
