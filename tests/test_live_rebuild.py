"""`kaohe replay` rebuilds the views beside the live ones and swaps them in: a running server keeps
answering the whole time, never a partial answer, and the answers are equal before and after."""

from __future__ import annotations

import os
import subprocess
import threading

import httpx

from api.service import KaoheApp
from domain.actors import Actor
from tests.test_http_process import KAOHE, served  # noqa: F401 - the real-server fixture

DISTRICTS = ["中山区", "西岗区", "沙河口区", "甘井子区"]


def test_a_rebuild_while_a_server_answers_reads(served, tmp_path):
    base, tokens = served
    headers = {"Authorization": f"Bearer {tokens['office']}"}
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    assert httpx.post(f"{base}/api/years", headers=admin, timeout=10,
                      json={"year": 2018, "rubric": "dalian-2018", "districts": DISTRICTS}).status_code == 201
    # A history long enough that the rebuild takes many batches: written straight through the service.
    url = f"sqlite:///{tmp_path}/kaohe.sqlite3"
    writer = KaoheApp.from_url(url, follow=False)
    office = Actor("办公室", "office")
    for i in range(1500):
        writer.record_finding(office, year=2018, district=DISTRICTS[i % 4], clause="8.2.b",
                              occurred_on=f"2018-{1 + i % 12:02d}-01")
    writer.close()
    position = str(writer.written_position)

    def read() -> tuple:
        scores = httpx.get(f"{base}/api/years/2018/scores", headers={**headers, "Kaohe-Read-After": position},
                           timeout=10)
        mine = httpx.get(f"{base}/api/years/2018/districts/中山区/audit", headers=headers, timeout=10)
        assert scores.status_code == 200 and mine.status_code == 200, (scores.text, mine.text)
        return (tuple((d["district"], d["total"]) for d in scores.json()["districts"]), len(mine.json()["events"]))

    before = read()
    assert before[1] == 1 + 375  # Opened + every finding of 中山区: the views are complete
    seen, stop = [], threading.Event()

    def keep_reading() -> None:
        while not stop.is_set():
            seen.append(read())

    reader = threading.Thread(target=keep_reading)
    reader.start()
    env = {**os.environ, "KAOHE_DATABASE_URL": url}
    out = subprocess.run([KAOHE, "replay", "--year", "2018"], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    stop.set()
    reader.join()
    assert out.returncode == 0, out.stderr
    assert len(seen) >= 2
    assert set(seen) == {before}  # every answer during the rebuild was the whole answer
    assert read() == before
