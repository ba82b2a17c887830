"""Shared fixtures: a fresh KaoheApp on a temporary SQLite file, an HTTP client over it, tokens per role."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from api.asgi import create_app
from api.service import KaoheApp, tokens
from domain.actors import Actor
from tests.stores import STORES, store_url

pytest_plugins = ["tests.browser_support"]  # the real-browser fixtures (playwright_api, page, screenshots)

YEAR = 2018
DISTRICTS = ["中山区", "西岗区", "沙河口区"]
RUBRIC = "dalian-2018"


@pytest.fixture(params=STORES)
def store(request, tmp_path) -> Iterator[tuple[str, dict[str, str]]]:
    """(url, extra settings) of a fresh, empty store, for tests that open services on it themselves."""
    with store_url(request.param, tmp_path) as (url, extra):
        yield url, extra


@pytest.fixture(params=STORES)
def app(request, tmp_path) -> Iterator[KaoheApp]:
    """A fresh application service on its own store (a SQLite file; a PostgreSQL schema), closed after the test."""
    with store_url(request.param, tmp_path) as (url, extra):
        kaohe = KaoheApp.from_url(url, **extra)
        try:
            yield kaohe
        finally:
            kaohe.close()


@pytest.fixture
def sqlite_file(app: KaoheApp) -> str:
    """For tests that edit or copy the SQLite file itself."""
    if app.views.is_postgres:
        pytest.skip("edits the SQLite file directly; the PostgreSQL run covers the rest")
    return app.env.get("SQLITE_DBNAME")


@pytest.fixture
def client(app: KaoheApp) -> Iterator[TestClient]:
    """The HTTP API over `app` (lifespan run, so the token table exists)."""
    with TestClient(create_app(app)) as test_client:
        yield test_client


@pytest.fixture
def make_headers(app: KaoheApp) -> Callable[..., dict[str, str]]:
    """make_headers(role, department=None, district=None, name=None) → Authorization headers for a new token."""
    made: dict[str, int] = {}

    def make(role: str, department: str | None = None, district: str | None = None,
             name: str | None = None) -> dict[str, str]:
        if name is None:
            base = "-".join(p for p in (role, department, district) if p)
            made[base] = made.get(base, 0) + 1
            name = base if made[base] == 1 else f"{base}-{made[base]}"
        token = tokens.create_token(app.views, name, role, department=department, district=district)
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def auth(make_headers) -> dict[str, dict[str, str]]:
    """Headers for one token per role: admin, office, auditor, 宣传教育部, 组织建设部 and each district."""
    headers = {
        "admin": make_headers("admin"),
        "office": make_headers("office"),
        "auditor": make_headers("auditor"),
        "宣传教育部": make_headers("department", department="宣传教育部"),
        "组织建设部": make_headers("department", department="组织建设部"),
    }
    for district in DISTRICTS:
        headers[district] = make_headers("district", district=district)
    return headers


ADMIN = Actor(name="fixture-admin", role="admin")


@pytest.fixture
def year_2018(app: KaoheApp) -> int:
    """Year 2018 open on the Dalian rubric with three districts: 中山区, 西岗区, 沙河口区."""
    app.open_year(ADMIN, year=YEAR, rubric=RUBRIC, districts=list(DISTRICTS))
    return YEAR


@pytest.fixture
def stored_events(app: KaoheApp) -> Callable[[], int]:
    """stored_events() → how many events the store holds (idempotency records included): 'nothing recorded'."""
    return lambda: app.recorder.max_notification_id() or 0


class Api:
    """The HTTP API as a named actor calls it: api.post("office", "/years/2018/meetings", {...}, key="k")."""

    def __init__(self, client: TestClient, auth: dict[str, dict[str, str]]):
        self.client = client
        self.auth = auth

    def headers(self, who: str | None, key: str | None = None) -> dict[str, str]:
        headers = dict(self.auth[who]) if who else {}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def get(self, who: str | None, path: str, **params: str):
        self.settled()
        return self.client.get(f"/api{path}", headers=self.headers(who), params=params)

    def settled(self) -> None:
        """Wait until the views show every write so far. A read waits only for its own caller's writes
        (api.service.own_writes); these tests read as one actor what another has just written, as a user at
        another desk would a moment later, when the views have caught up."""
        self.client.app.state.kaohe.fresh()

    def post(self, who: str | None, path: str, json: dict | None = None, key: str | None = None):
        return self.client.post(f"/api{path}", headers=self.headers(who, key), json=json)

    def totals(self, year: int = YEAR, **params: str) -> dict[str, float]:
        """Every district's total as the auditor reads it."""
        r = self.get("auditor", f"/years/{year}/scores", **params)
        assert r.status_code == 200, r.text
        return {d["district"]: d["total"] for d in r.json()["districts"]}

    def events(self, district: str, year: int = YEAR) -> list[dict]:
        """A district's audit log (oldest first) as the auditor reads it."""
        r = self.get("auditor", f"/years/{year}/districts/{district}/audit")
        assert r.status_code == 200, r.text
        return r.json()["events"]


@pytest.fixture
def api(client: TestClient, auth: dict[str, dict[str, str]]) -> Api:
    return Api(client, auth)
