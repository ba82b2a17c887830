"""The composition root: builds the application service, its views and the runner that keeps them caught up.

Everything infrastructural is made here, once, from settings (the database URL), never at
import time; tests pass their own URL to get their own store.
"""

from __future__ import annotations

from api.service import log_tables
from api.service.application import KaoheApp
from api.service.log_keys import load_signer
from api.service.metrics import Metrics
from api.service.storage import database_url, library_env
from projections.audit_log import AuditLog
from projections.catchup import CatchUp
from projections.cycle import CycleViews
from projections.merkle_log import LogCatchUp, MerkleLog
from projections.runner import ProjectionRunner
from projections.scoreboard import Scoreboard
from projections.store import ViewStore, sqlite_read_only_uri


def build(url: str | None = None, *, follow: bool = True, read_only: bool = False, **extra: str) -> KaoheApp:
    """The service on the store at `url` (default `KAOHE_DATABASE_URL`); `extra` adds library settings."""
    env = library_env(url or database_url(), create=not read_only)
    if env["PERSISTENCE_MODULE"].endswith("sqlite"):
        # SQLite is the one-process deployment: the cache need not re-read the store
        # before each command (a stale aggregate would still fail to save, be evicted
        # and retried). Several processes share PostgreSQL, so there it fast-forwards.
        env["AGGREGATE_CACHE_FASTFORWARD"] = "n"
    if read_only:
        env["CREATE_TABLE"] = "n"  # the library would otherwise create its tables on start
    return assemble({**env, **extra}, follow=follow, read_only=read_only)


def assemble(env: dict[str, str], *, follow: bool = True, read_only: bool = False) -> KaoheApp:
    """The service on the library settings `env`, with its views, projections and runner.

    `follow`: start the projection runner (a server process, a long-lived test app). Without it
    (one-shot command-line use) reads catch up by themselves. `read_only`: open the views without
    creating or changing anything (`kaohe verify` on a read-only copy).
    """
    views_env = dict(env)
    if read_only and env["PERSISTENCE_MODULE"].endswith("sqlite") and env["SQLITE_DBNAME"] != ":memory:":
        env = {**env, "SQLITE_DBNAME": sqlite_read_only_uri(env["SQLITE_DBNAME"])}
    app = KaoheApp(env=env)
    app.views = ViewStore({**app.env_dict(), **views_env}, read_only=read_only)
    app.new_projections = lambda: [Scoreboard(app.rubric_of_year, app.load_history), AuditLog(), CycleViews()]
    app.catchup = CatchUp(app, app.views, app.new_projections())
    app.metrics = Metrics(app)
    # The Merkle log catches up on its own: a write waits for it (to answer its receipt), not for scoring.
    app.log_catchup = LogCatchUp(app, app.views, [MerkleLog()])
    app.log_signer = load_signer(views_env, create=not read_only)
    if not read_only:
        log_tables.init(app.views)
    if follow and not read_only:
        app.runner = ProjectionRunner(app.catchup, also=[app.log_catchup])
        app.runner.start()
    return app
