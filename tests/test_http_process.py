"""End to end through a real `kaohe serve` process: tokens from the command line, a small year over HTTP."""

from __future__ import annotations

import os
import subprocess

import httpx
import pytest

from tests.servers import KAOHE, serve


@pytest.fixture
def served(tmp_path):
    env = {**os.environ, "KAOHE_DATABASE_URL": f"sqlite:///{tmp_path}/kaohe.sqlite3"}

    def token(*args: str) -> str:
        out = subprocess.run([KAOHE, "token", "create", *args], env=env, check=True, capture_output=True,
                             text=True, cwd=tmp_path).stdout
        return out.strip().splitlines()[-1]  # the token is the last line

    tokens = {
        "admin": token("--name", "管理员", "--role", "admin"),
        "office": token("--name", "市总工会办公室", "--role", "office"),
        "法律部": token("--name", "法律部", "--role", "department", "--department", "法律部"),
        # made before the year opens, so the district is not known yet: said explicitly
        "中山区": token("--name", "中山区总工会", "--role", "district", "--district", "中山区", "--allow-unknown-scope"),
    }
    server, base = serve(env, tmp_path, timeout=30)
    try:
        yield base, tokens
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_small_year_through_a_real_server(served):
    base, tokens = served

    def call(who: str, method: str, path: str, json: dict | None = None, expect: int = 200) -> dict:
        r = httpx.request(method, f"{base}/api{path}", json=json, timeout=10,
                          headers={"Authorization": f"Bearer {tokens[who]}"})
        assert r.status_code == expect, r.text
        return r.json()

    districts = ["中山区", "西岗区", "沙河口区", "甘井子区"]
    call("admin", "POST", "/years", {"year": 2018, "rubric": "dalian-2018", "districts": districts}, 201)
    y = "/years/2018"
    call("office", "POST", f"{y}/meetings", {"title": "全市工会工作会议", "held_on": "2018-03-02",
                                            "absent": ["中山区", "西岗区"], "excused": ["沙河口区"]}, 201)
    report = call("office", "POST", f"{y}/reports", {"title": "上半年工作总结", "due_on": "2018-07-10"}, 201)["id"]
    call("office", "POST", f"{y}/reports/{report}/submissions", {"district": "中山区", "submitted_on": "2018-07-09"}, 201)
    call("office", "POST", f"{y}/reports/{report}/submissions", {"district": "西岗区", "submitted_on": "2018-07-12"}, 201)
    call("office", "POST", f"{y}/reports/{report}/submissions", {"district": "沙河口区", "submitted_on": "2018-07-10"}, 201)
    closed = call("office", "POST", f"{y}/reports/{report}/close")
    assert sorted((f["district"], f["reason"]) for f in closed["findings"]) == [("甘井子区", "missing"), ("西岗区", "late")]
    task = call("office", "POST", f"{y}/tasks", {"title": "困难职工走访", "assigned_on": "2018-08-01",
                                                "due_on": "2018-08-31", "districts": ["中山区", "甘井子区"]}, 201)["id"]
    call("office", "POST", f"{y}/tasks/{task}/outcomes", {"district": "中山区", "outcome": "completed"}, 201)
    call("office", "POST", f"{y}/tasks/{task}/outcomes", {"district": "甘井子区", "outcome": "unfinished"}, 201)
    # 5.2 未成立本级工会职工法律援助中心扣0.4分; recorded, then retracted
    wrong = call("法律部", "POST", f"{y}/districts/沙河口区/findings", {"clause": "5.2.a"}, 201)
    call("法律部", "POST", f"{y}/districts/沙河口区/findings", {"clause": "5.2.d", "evidence": ["服务记录抽查"]}, 201)
    call("法律部", "POST", f"{y}/findings/{wrong['id']}/retraction", {"reason": "中心已成立，系误记"}, 201)

    scores = call("office", "GET", f"{y}/scores")
    totals = {d["district"]: d["total"] for d in scores["districts"]}
    # 中山区 −0.5 (meeting); 西岗区 −0.5 −0.5 (meeting, late report); 沙河口区 −0.8 (5.2.d; 5.2.a retracted;
    # excused absence deducts nothing); 甘井子区 −0.5 −1 (missing report, unfinished task)
    assert totals == {"中山区": 99.5, "西岗区": 99, "沙河口区": 99.2, "甘井子区": 98.5}
    assert [d["rank"] for d in scores["districts"]] == [1, 2, 3, 4]

    mine = call("中山区", "GET", f"{y}/districts/中山区/score")
    assert mine["total"] == 99.5
    call("中山区", "GET", f"{y}/districts/西岗区/score", expect=403)
    log = call("中山区", "GET", f"{y}/districts/中山区/audit")["events"]
    assert [e["type"] for e in log] == ["Opened", "FindingRecorded", "ActivityNoted", "ActivityNoted"]
    assert all(e["prev_hash"] == before["hash"] for before, e in zip(log, log[1:]))
    assert call("admin", "GET", f"{y}/verify")["ok"] is True
