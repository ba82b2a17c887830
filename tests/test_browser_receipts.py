"""The receipts page's check in a real browser (Chromium, Web Crypto): a district downloads a receipt, the page
proves it (signature, inclusion, consistency with the latest checkpoint); then an insider rewrites the history
behind the service (drops an event, re-hashes the rest, `kaohe replay`, keeps the service in use), and the same
kept receipt is refused on the page, saying why.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from types import SimpleNamespace
from urllib.parse import quote

import pytest

from domain.ledger import ledger_id
from tests.browser_support import Story, kaohe_command, running_server
from tests.log_support import EventsTable, rehash

DISTRICT = "中山区"


def call(base: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(base + "/api" + quote(path), method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())


def check_on_the_page(page, base: str, receipt: str) -> tuple[str, str]:
    page.goto(f"{base}/web/2018/districts/{DISTRICT}/receipts")
    page.set_input_files("#receipt-file", receipt)
    page.click("#check-log")
    page.wait_for_selector("#check-log-result.good, #check-log-result.bad")  # (the page's CSP forbids eval)
    return page.locator("#check-log-result").get_attribute("class"), page.locator("#check-log-result").inner_text()


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("kaohe-receipts")


def test_a_kept_receipt_is_proven_in_the_browser_and_refused_after_a_rewrite(page, home, screenshots, tmp_path):
    specs = {"admin": ("系统管理员", "admin"), "office": ("市总工会办公室", "office"),
             DISTRICT: (f"{DISTRICT}总工会", "district", "--district", DISTRICT)}
    with running_server(home, specs) as server:
        base, tokens = server["base"], server["tokens"]
        call(base, tokens["admin"], "POST", "/years", {"year": 2018, "rubric": "dalian-2018",
                                                       "districts": [DISTRICT, "西岗区"]})
        for clause, day in (("8.2.b", "2018-03-01"), ("8.5.a", "2018-04-01"), ("8.2.b", "2018-05-01")):
            call(base, tokens["office"], "POST", f"/years/2018/districts/{DISTRICT}/findings",
                 {"clause": clause, "occurred_on": day})
        story = Story(page, base, tokens, screenshots)
        story.sign_in(DISTRICT)
        page.goto(f"{base}/web/2018/districts/{DISTRICT}/receipts")
        assert page.locator("#receipts tbody tr").count() == 4
        with page.expect_download() as download:
            page.locator("#receipts tbody tr").first.locator("a.download").click()  # the newest event's receipt
        kept = tmp_path / "receipt.json"
        download.value.save_as(kept)
        assert json.loads(kept.read_text())["receipt"]["log"]["size"] >= 6
        verdict, text = check_on_the_page(page, base, str(kept))
        story.shot("district-receipt-proven")
        assert verdict == "good", text
        assert "回执核对通过" in text and "包含在该检查点的默克尔树中" in text and "未被删除或改写" in text

    # The insider, with the server stopped: drop the 8.5.a finding, re-hash the last one onto the chain, replay.
    path = str(home / "kaohe.sqlite3")
    table = EventsTable(SimpleNamespace(views=SimpleNamespace(is_postgres=False), env={"SQLITE_DBNAME": path},
                                        recorder=SimpleNamespace(events_table_name="stored_events")))
    rows = table.ledger(2018, DISTRICT)
    table.delete(2018, DISTRICT, rows[-2][0])
    version, topic, state = rows[-1]
    table.put(2018, DISTRICT, version, rehash(topic, ledger_id(2018, DISTRICT), version - 1, state, rows[-3][2]["hash"]),
              new_version=version - 1)
    env = {**os.environ, "KAOHE_DATABASE_URL": f"sqlite:///{path}"}
    replayed = subprocess.run([*kaohe_command(), "replay", "--year", "2018"], cwd=home, capture_output=True, text=True,
                              env=env, timeout=120)
    assert "digest" in replayed.stdout, replayed.stderr

    with running_server(home, {}) as server:  # the service in use again: the log grows, new checkpoints are signed
        base = server["base"]
        for day in ("2018-06-01", "2018-06-02"):
            call(base, tokens["office"], "POST", "/years/2018/districts/西岗区/findings",
                 {"clause": "8.2.b", "occurred_on": day})
        story.base = base
        page.goto(f"{base}/web/2018/districts/{DISTRICT}/receipts")
        if "登录" in page.title():  # the session did not outlive the server
            story.sign_in(DISTRICT)
        verdict, text = check_on_the_page(page, base, str(kept))
        story.shot("district-receipt-refused")
        assert verdict == "bad", text
        assert "核对未通过" in text and "一致性证明无效" in text and "历史被删除或改写" in text
