"""The composition root: builds the application service, its views and the runner that keeps them caught up.

Everything infrastructural is made here, once, from settings (the database URL), never at
import time; tests pass their own URL to get their own store.
"""

from __future__ import annotations

from contextlib import nullcontext

from api.service import log_tables
from api.service.application import KaoheApp
from api.service.log_integration import RECORDERS, LogIntegration
from api.service.log_keys import load_signer
from api.service.metrics import Metrics
from api.service.storage import database_url, library_env, setup_lock
from projections.audit_log import AuditLog
from projections.catchup import CatchUp
from projections.cycle import CycleViews
from projections.leader import Leadership, file_leadership
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
    postgres = env["PERSISTENCE_MODULE"].endswith("postgres")
    # The library's recorder, with the Merkle log integrated in each insert's transaction.
    env = {**env, "APPLICATION_RECORDER_TOPIC": RECORDERS["postgres" if postgres else "sqlite"]}
    with nullcontext() if read_only else setup_lock(env):
        app = _made(env, views_env, read_only=read_only, postgres=postgres)
    if follow and not read_only:
        # One server process per store catches up, the others follow (projections.leader).
        leadership = Leadership(app.env_dict(), app.recorder.channel_name) if app.views.is_postgres \
            else file_leadership(app.views, app.recorder, lambda: app.written_position)
        app.runner = ProjectionRunner(app.catchup, also=[app.log_integration], leadership=leadership)
        app.runner.start()
    return app


def _made(env: dict[str, str], views_env: dict[str, str], *, read_only: bool, postgres: bool) -> KaoheApp:
    """The service, its views and its log, their tables made where missing."""
    app = KaoheApp(env=env)
    app.views = ViewStore({**app.env_dict(), **views_env}, read_only=read_only)
    app.new_projections = lambda: [Scoreboard(app.rubric_of_year, app.load_history), AuditLog(), CycleViews()]
    app.catchup = CatchUp(app, app.views, app.new_projections())
    app.metrics = Metrics(app)
    recorder = app.recorder
    events_table = f"{recorder.datastore.schema}.{recorder.events_table_name}" if postgres \
        else recorder.events_table_name
    app.views.events_table = events_table
    app.log_signer = load_signer(views_env, create=not read_only)
    app.log_integration = LogIntegration(LogCatchUp(app, app.views, MerkleLog(), events_table), app.log_signer,
                                         app.origin, events_table=events_table,
                                         schema=views_env.get("POSTGRES_SCHEMA") if postgres else None)
    if not read_only:
        log_tables.init(app.views)
        app.log_integration.run()  # whatever the store holds beyond the log (a first start on an older store)
        recorder.integration = app.log_integration  # from now on every insert adds to the log in its commit
    return app
