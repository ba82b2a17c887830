"""Crash safety: a writer killed with SIGKILL mid-stream loses no acknowledged finding and doubles none."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from api.service import KaoheApp
from api.service.log_keys import key_path
from domain.actors import Actor
from tests.stores import STORES, leader_sessions, store_url

ROOT = Path(__file__).resolve().parents[1]
ADMIN = Actor("管理员", "admin")


@pytest.mark.parametrize("kind", STORES)
def test_sigkill_mid_stream_loses_and_doubles_nothing(kind, tmp_path):
    with store_url(kind, tmp_path) as (url, extra):
        # The writer finds its PostgreSQL schema as a user would: KAOHE_POSTGRES_SCHEMA.
        env = {**os.environ, "PYTHONPATH": str(ROOT), **{f"KAOHE_{k}": v for k, v in extra.items()}}
        # No runner here: the writer's process is then the store's leader (projections.leader), killed
        # mid-stream, perhaps mid catch-up; the restarted service must take over from it.
        app = KaoheApp.from_url(url, follow=False, **extra)
        # Servers sharing one PostgreSQL share the log key through KAOHE_LOG_KEY_FILE (the writer runs elsewhere).
        env["KAOHE_LOG_KEY_FILE"] = str(key_path(app.env_dict()).resolve())
        app.open_year(ADMIN, year=2018, rubric="dalian-2018", districts=["中山区", "西岗区", "沙河口区"])
        app.catch_up()  # the read side is mid-way too when the writer dies
        writer = subprocess.Popen([sys.executable, str(ROOT / "ops" / "crash_writer.py"), url, "2018"],
                                  stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        acknowledged = []
        for line in writer.stdout:
            acknowledged.append(line.split()[0])
            if len(acknowledged) == 40:
                app.catch_up()  # a reader catches up while the writer is still writing
                if kind == "postgres":
                    assert leader_sessions(extra["POSTGRES_SCHEMA"]) == 1  # the writer leads
            if len(acknowledged) >= 120:
                break
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        acknowledged.extend(line.split()[0] for line in writer.stdout.read().splitlines() if line.strip())
        app.close()

        restarted = KaoheApp.from_url(url, **extra)  # with its runner: it catches up, as the store's leader
        ids = Counter()
        for district in ("中山区", "西岗区", "沙河口区"):
            for event in restarted.audit(ADMIN, 2018, district):
                if event["type"] == "FindingRecorded":
                    ids[event["data"]["finding_id"]] += 1
        assert set(acknowledged) <= set(ids)  # every acknowledged finding is in the store
        assert max(ids.values()) == 1  # none twice
        assert restarted.verify()["ok"]
        live = restarted.scores(ADMIN, 2018)["districts"]
        assert restarted.runner.role == "leader"  # took over from the killed writer (SQLite: its flock went with it)
        assert restarted.replay(2018)["districts"] == live  # caught-up projections equal a rebuild
        restarted.close()
