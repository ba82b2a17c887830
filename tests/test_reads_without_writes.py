"""Reads never write: they answer from the views even when the views cannot be written (disk full),
and a read right after a write sees it without catching up itself."""

from __future__ import annotations

import sqlite3
import threading

from tests.conftest import YEAR


def test_reads_answer_while_the_views_cannot_be_written(app, api, year_2018, monkeypatch):
    assert api.post("office", f"/years/{YEAR}/meetings", {"title": "会", "held_on": "2018-03-01",
                                                          "absent": ["中山区"]}).status_code == 201
    assert api.totals()["中山区"] == 99.5

    def refuse(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(app.views, "transaction", refuse)  # the runner can no longer write the views
    assert api.post("office", f"/years/{YEAR}/meetings", {"title": "会2", "held_on": "2018-03-02",
                                                          "absent": ["西岗区"]}).status_code == 201
    scores = api.get("auditor", f"/years/{YEAR}/scores")
    assert scores.status_code == 200  # answered from the views as they stood, without waiting for them
    assert api.get("中山区", f"/years/{YEAR}/districts/中山区/score").status_code == 200
    assert api.client.get("/health").json()["status"] == "degraded"
    monkeypatch.undo()  # the disk has room again: the runner catches up by itself
    app.runner.nudge()
    assert app.catchup.wait_for(app.written_position, 10)
    assert api.totals()["西岗区"] == 99.5


def test_a_read_after_a_write_sees_it_without_catching_up_itself(app, api, year_2018, monkeypatch):
    original = app.catchup.run
    reader = threading.current_thread()
    seen_threads = set()
    monkeypatch.setattr(app.catchup, "run", lambda: seen_threads.add(threading.current_thread()) or original())
    for day in ("2018-03-01", "2018-03-02", "2018-03-03"):
        api.post("office", f"/years/{YEAR}/districts/沙河口区/findings", {"clause": "8.2.b", "occurred_on": day})
        assert api.totals()["沙河口区"] == 100 - 0.5 * int(day[-1])
    assert seen_threads and reader not in seen_threads  # only the runner caught up
