"""API tokens (访问令牌): who a bearer token speaks for, stored only as its SHA-256; expiry,
revocation, and a record of who made or revoked which token.

Tokens are not events: they live in their own tables beside the views and survive a rebuild
of the read side (`ViewStore.drop_all` does not touch them). A server remembers a token it
has found for at most RECHECK seconds, then asks the database again, so a token revoked by
`kaohe token revoke` (or another server sharing PostgreSQL) is refused everywhere within a second.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
import uuid
import weakref
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from domain.actors import ROLES, Actor, require
from domain.errors import Conflict, InvalidInput, NotFound
from domain.text import DATE, check_input, iso_date, iso_datetime
from projections.store import ViewStore

RECHECK = 0.5  # seconds a found token is remembered before the database is asked again
SHANGHAI = ZoneInfo("Asia/Shanghai")
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS kaohe_tokens (
    token_hash TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, role TEXT NOT NULL,
    department TEXT, district TEXT, created_at TEXT NOT NULL)""",
    # What happened to tokens, oldest first: created / revoked, by whom, for which role and scope.
    """CREATE TABLE IF NOT EXISTS kaohe_token_events (
    event_id TEXT PRIMARY KEY, at TEXT NOT NULL, action TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
    department TEXT, district TEXT, actor TEXT NOT NULL, expires_at TEXT)""",
]
# Columns added after the first release: added in place to a table made without them.
LATER_COLUMNS = {"created_by": "TEXT", "expires_at": "TEXT", "revoked_at": "TEXT", "revoked_by": "TEXT"}
COLUMNS = "name, role, department, district, created_at, created_by, expires_at, revoked_at, revoked_by"

_ready: weakref.WeakSet[ViewStore] = weakref.WeakSet()
_known: weakref.WeakKeyDictionary[ViewStore, dict[str, tuple[Actor, float, str | None]]] = weakref.WeakKeyDictionary()
_init_lock = threading.Lock()


def init(views: ViewStore) -> None:
    """Create (or complete) the token tables if they are not there yet (once per store object)."""
    if views in _ready:
        return
    with _init_lock:
        if views in _ready:
            return
        if not views.read_only:
            with views.transaction() as tx:
                for statement in SCHEMA:
                    tx.execute(statement)
                present = tx.columns("kaohe_tokens")
                for column, kind in LATER_COLUMNS.items():
                    if column not in present:
                        tx.execute(f"ALTER TABLE kaohe_tokens ADD COLUMN {column} {kind}")
        _ready.add(views)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


DURATION = re.compile(r"(\d{1,5})([mhdw])")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(value: str | None, now: datetime | None = None) -> str | None:
    """`--expires`: a duration (30m, 12h, 90d, 2w), a date (YYYY-MM-DD: valid through that day,
    Asia/Shanghai) or a date and time (ISO 8601) → the UTC instant it stops working, or None."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    now = now or now_utc()
    duration = DURATION.fullmatch(text)
    if duration:
        moment = now + timedelta(**{UNITS[duration[2]]: int(duration[1])})
    elif DATE.fullmatch(text):
        day = iso_date(text, "expires")
        moment = datetime.combine(day + timedelta(days=1), datetime.min.time(), SHANGHAI)
    else:
        try:
            moment = iso_datetime(text, "expires")
        except InvalidInput:
            raise InvalidInput(f"expires 格式错误：如 90d、12h、2018-12-31 或 2018-12-31T18:00+08:00 "
                               f"(malformed expiry {text!r})", field="expires") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=SHANGHAI)
    if moment <= now:
        raise InvalidInput(f"expires 已经过去 (the expiry {text!r} is in the past)", field="expires")
    return _iso(moment)


def known_scopes(app: Any) -> tuple[set[str], set[str]]:
    """The districts of every open year, and every department of the rubrics (open years' and shipped)."""
    from api.service.rubric_files import available_rubrics, load_rubric

    years = [y for y in app.years() if not y["closed"]]
    districts = {d for y in years for d in y["districts"]}
    departments: set[str] = set()
    for rubric_id in {*available_rubrics(), *(y["rubric"] for y in years)}:
        departments.update(d for indicator in load_rubric(rubric_id).indicators for d in indicator.departments)
    return districts, departments


def check_scope(app: Any, department: str | None = None, district: str | None = None) -> None:
    """A token's district must be assessed in an open year and its department named in the rubric."""
    districts, departments = known_scopes(app)
    if district and district.strip() not in districts:
        raise InvalidInput(f"没有开启的考核年度包含单位 {district!r} (no open year assesses this district; "
                           f"open the year first)", field="district")
    if department and department.strip() not in departments:
        raise InvalidInput(f"考核细则中没有责任部门 {department!r} (no indicator of the rubric names this "
                           f"department)", field="department")


def create_token(views: ViewStore, name: str, role: str, department: str | None = None,
                 district: str | None = None, *, expires_at: str | None = None, created_by: str = "kaohe") -> str:
    """Store a new token for an actor and return it; only its hash is kept. The creation is recorded."""
    name = _text(name)
    department = _text(department)
    district = _text(district)
    if not name:
        raise InvalidInput("name 不能为空 (a token needs a name)", field="name")
    for field, value in (("name", name), ("department", department), ("district", district)):
        check_input(value, field)
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
    created_at = _iso(now_utc())
    with views.transaction() as tx:  # the write lock: the name check and the insert cannot interleave
        if tx.query("SELECT 1 FROM kaohe_tokens WHERE name = ?", (name,)):
            raise Conflict(f"令牌名称 {name!r} 已存在 (a token named {name!r} already exists)", field="name")
        tx.execute(
            "INSERT INTO kaohe_tokens (token_hash, name, role, department, district, created_at, created_by, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (token_hash(token), name, role, department, district, created_at, created_by, expires_at),
        )
        _record(tx, "created", name, role, department, district, created_by, expires_at, created_at)
    return token


def revoke_token(views: ViewStore, name: str, by: Actor) -> dict[str, Any]:
    """Revoke a token by its name (admin); revoking it again changes nothing. Every server refuses it
    within RECHECK seconds."""
    require(by, "manage_tokens")
    init(views)
    at = _iso(now_utc())
    with views.transaction() as tx:
        rows = tx.query(f"SELECT {COLUMNS} FROM kaohe_tokens WHERE name = ?", (name,))
        if not rows:
            raise NotFound(f"没有名为 {name!r} 的令牌 (no token named {name!r})")
        info = _info(rows[0])
        if info["revoked_at"] is None:
            tx.execute("UPDATE kaohe_tokens SET revoked_at = ?, revoked_by = ? WHERE name = ?", (at, by.name, name))
            for (digest,) in tx.query("SELECT token_hash FROM kaohe_tokens WHERE name = ?", (name,)):
                _known.get(views, {}).pop(digest, None)  # this process refuses it at once; others within RECHECK
            _record(tx, "revoked", name, info["role"], info["department"], info["district"], by.name, None, at)
            info = {**info, "revoked_at": at, "revoked_by": by.name, "status": "revoked"}
    return info


def list_tokens(views: ViewStore, by: Actor) -> dict[str, Any]:
    """Every token (never the token itself nor its hash) and what happened to them, for admin."""
    require(by, "manage_tokens")
    init(views)
    tokens = [_info(row) for row in views.query(f"SELECT {COLUMNS} FROM kaohe_tokens ORDER BY created_at, name")]
    events = [dict(zip(("at", "action", "name", "role", "department", "district", "actor", "expires_at"), row))
              for row in views.query("SELECT at, action, name, role, department, district, actor, expires_at "
                                     "FROM kaohe_token_events ORDER BY at, action, name")]
    return {"tokens": tokens, "events": events}


def actor_for(views: ViewStore, token: str | None) -> Actor | None:
    """The actor a token speaks for, or None for a missing, unknown, revoked or expired token."""
    if not token:
        return None
    return actor_for_hash(views, token_hash(token))


def remembered_actor(views: ViewStore, token: str | None) -> Actor | None:
    """The actor a token was found for less than RECHECK seconds ago, without asking the database;
    None when it has to be asked (`actor_for`)."""
    found = _known.get(views, {}).get(token_hash(token)) if token else None
    if found is None:
        return None
    actor, checked, expires_at = found
    if time.monotonic() - checked < RECHECK and (expires_at is None or expires_at > _iso(now_utc())):
        return actor
    return None


def actor_for_hash(views: ViewStore, digest: str) -> Actor | None:
    known = _known.setdefault(views, {})
    found = known.get(digest)
    now = time.monotonic()
    if found is not None:
        actor, checked, expires_at = found
        if now - checked < RECHECK and (expires_at is None or expires_at > _iso(now_utc())):
            return actor
    init(views)
    rows = views.query("SELECT name, role, department, district, expires_at, revoked_at FROM kaohe_tokens "
                       "WHERE token_hash = ?", (digest,))
    if not rows or rows[0][5] is not None or (rows[0][4] is not None and rows[0][4] <= _iso(now_utc())):
        known.pop(digest, None)
        return None  # not remembered: a token made later by `kaohe token create` must be found then
    name, role, department, district, expires_at, _ = rows[0]
    actor = Actor(name=name, role=role, department=department, district=district)
    known[digest] = (actor, now, expires_at)
    return actor


def _info(row: tuple[Any, ...]) -> dict[str, Any]:
    info = dict(zip(COLUMNS.split(", "), row))
    if info["revoked_at"] is not None:
        info["status"] = "revoked"
    elif info["expires_at"] is not None and info["expires_at"] <= _iso(now_utc()):
        info["status"] = "expired"
    else:
        info["status"] = "active"
    return info


def _record(tx: Any, action: str, name: str, role: str, department: str | None, district: str | None,
            actor: str, expires_at: str | None, at: str) -> None:
    tx.execute("INSERT INTO kaohe_token_events (event_id, at, action, name, role, department, district, actor, "
               "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (uuid.uuid4().hex, at, action, name, role, department, district, actor, expires_at))


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None
