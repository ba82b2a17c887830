"""Every POST of the API, systematically: each role's refusals (403, nothing recorded) and idempotent retries.

One world is prepared through the service; each call then runs against it over HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from api.service import KaoheApp
from domain.actors import Actor
from tests.conftest import DISTRICTS, YEAR
from tests.cycle_support import PDF, clock  # noqa: F401 - the clock fixture
from tests.test_http_api import error_of

Y = f"/years/{YEAR}"
ROLES = ("admin", "office", "auditor", "宣传教育部", "组织建设部", "中山区", "西岗区", "沙河口区")
OFFICE = Actor("office", "office")
PROPAGANDA = Actor("department-宣传教育部", "department", department="宣传教育部")
ZHONGSHAN = Actor("district-中山区", "district", district="中山区")


@pytest.fixture
def in_2018(clock):
    """Every event of the world is recorded in November 2018 (so a 公示's end is on the known calendar)."""
    clock.set("2018-11-01T09:00")
    return clock


@pytest.fixture
def world(in_2018, app: KaoheApp, year_2018: int) -> dict[str, str]:
    """A finding of 宣传教育部, two missed meetings of 中山区 (the second disputed), two reports, a task, a 申报."""
    ids = {"finding": app.record_finding(PROPAGANDA, year=YEAR, district="中山区", clause="2.3.a")["id"]}
    ids["submission"] = app.submit_materials(ZHONGSHAN, year=YEAR, district="中山区", indicator="2.2",
                                             statement="已开展")["id"]
    held = [app.hold_meeting(OFFICE, year=YEAR, title=f"会议{n}", held_on=f"2018-0{n}-10", absent=["中山区"])
            for n in (3, 4)]
    ids["meeting"] = held[0]["id"]
    ids["absence"], disputed = (m["findings"][0]["id"] for m in held)
    ids["dispute"] = app.file_dispute(ZHONGSHAN, year=YEAR, finding_id=disputed, statement="已请假")["id"]
    ids["report"], ids["report2"] = (app.schedule_report(OFFICE, year=YEAR, title=t, due_on="2018-07-10")["id"]
                                     for t in ("半年总结", "督察材料"))
    ids["task"] = app.assign_task(OFFICE, year=YEAR, title="宣传任务", assigned_on="2018-05-01", due_on="2018-06-30",
                                  districts=["中山区", "西岗区"])["id"]
    return ids


@dataclass(frozen=True)
class Call:
    name: str
    who: str  # a role allowed to make the call
    path: str  # under the year unless it starts with /years; formatted with the world's ids
    body: dict | None
    status: int
    refused: tuple[str, ...]  # roles refused with 403
    other_path: str | None = None  # a different request under the same key: another path ...
    other_body: dict | None = None  # ... or another body
    upload: bool = False  # the body is the multipart file {"name": bytes}

    def url(self, world: dict[str, str], other: bool = False) -> str:
        path = self.other_path if other and self.other_path else self.path
        return (path if path.startswith("/years") else Y + path).format(**world)


OFFICE_ONLY = ("宣传教育部", "组织建设部", "auditor", "中山区")
CALLS = [
    Call("open year", "admin", "/years", {"year": 2019, "rubric": "dalian-2018", "districts": DISTRICTS}, 201,
         ("office", "宣传教育部", "组织建设部", "auditor", "中山区"),
         other_body={"year": 2019, "rubric": "dalian-2018", "districts": ["中山区"]}),
    Call("record finding", "宣传教育部", "/districts/西岗区/findings", {"clause": "2.1.a", "note": "无方案"}, 201,
         ("office", "组织建设部", "auditor", "中山区", "西岗区"), other_body={"clause": "2.1.a", "note": "另一条"}),
    Call("retract finding", "宣传教育部", "/findings/{finding}/retraction", {"reason": "误记"}, 201,
         ("office", "组织建设部", "auditor", "中山区"), other_body={"reason": "另一个理由"}),
    Call("hold meeting", "office", "/meetings", {"title": "推进会", "held_on": "2018-09-01", "absent": ["西岗区"]}, 201,
         OFFICE_ONLY, other_body={"title": "推进会", "held_on": "2018-09-01", "absent": ["沙河口区"]}),
    Call("schedule report", "office", "/reports", {"title": "全年总结", "due_on": "2018-12-31"}, 201, OFFICE_ONLY,
         other_body={"title": "全年总结", "due_on": "2018-12-30"}),
    Call("record submission", "office", "/reports/{report}/submissions",
         {"district": "中山区", "submitted_on": "2018-07-09"}, 201, OFFICE_ONLY,
         other_body={"district": "西岗区", "submitted_on": "2018-07-09"}),
    Call("close report", "office", "/reports/{report}/close", None, 200, OFFICE_ONLY,
         other_path="/reports/{report2}/close"),
    Call("assign task", "office", "/tasks", {"title": "调研任务", "assigned_on": "2018-08-01", "due_on": "2018-08-31",
                                             "districts": ["沙河口区"]}, 201, OFFICE_ONLY,
         other_body={"title": "调研任务", "assigned_on": "2018-08-01", "due_on": "2018-08-31", "districts": ["西岗区"]}),
    Call("record task outcome", "office", "/tasks/{task}/outcomes", {"district": "中山区", "outcome": "unfinished"}, 201,
         OFFICE_ONLY, other_body={"district": "中山区", "outcome": "completed"}),
    Call("file dispute", "中山区", "/findings/{absence}/disputes", {"statement": "当天已请假"}, 201,
         ("admin", "office", "宣传教育部", "auditor", "西岗区", "沙河口区"), other_body={"statement": "另一份说明"}),
    Call("resolve dispute", "office", "/disputes/{dispute}/resolution", {"decision": "overturned", "reason": "属实"}, 201,
         ("宣传教育部", "组织建设部", "auditor", "中山区", "西岗区"),
         other_body={"decision": "upheld", "reason": "属实"}),
    Call("sign off", "宣传教育部", "/districts/中山区/signoffs", {"indicator": "2.1"}, 201,
         ("office", "组织建设部", "auditor", "中山区"), other_body={"indicator": "2.2"}),
    Call("record findings (batch)", "宣传教育部", "/findings/batch",
         {"findings": [{"district": "西岗区", "clause": "2.1.a"}, {"district": "沙河口区", "clause": "2.2.a"}]}, 201,
         ("office", "组织建设部", "auditor", "中山区", "西岗区"),
         other_body={"findings": [{"district": "西岗区", "clause": "2.1.a"}]}),
    Call("sign off (batch)", "宣传教育部", "/signoffs/batch", {"signoffs": [{"district": "中山区", "indicator": "2.1"}]},
         201, ("office", "组织建设部", "auditor", "中山区"),
         other_body={"signoffs": [{"district": "中山区", "indicator": "2.2"}]}),
    Call("record submissions (batch)", "office", "/reports/{report}/submissions/batch",
         {"submissions": [{"district": "中山区", "submitted_on": "2018-07-09"}]}, 201, OFFICE_ONLY,
         other_body={"submissions": [{"district": "西岗区", "submitted_on": "2018-07-09"}]}),
    Call("record task outcomes (batch)", "office", "/tasks/{task}/outcomes/batch",
         {"outcomes": [{"district": "中山区", "outcome": "unfinished"}, {"district": "西岗区", "outcome": "completed"}]},
         201, OFFICE_ONLY, other_body={"outcomes": [{"district": "中山区", "outcome": "completed"}]}),
    Call("void meeting", "office", "/meetings/{meeting}/void", {"reason": "录错"}, 200, OFFICE_ONLY,
         other_body={"reason": "另一个理由"}),
    Call("upload evidence", "中山区", "/districts/中山区/evidence", {"方案.pdf": PDF}, 201, ("auditor", "西岗区"),
         other_body={"其他.pdf": PDF + b"%more\n"}, upload=True),
    Call("submit materials", "中山区", "/districts/中山区/submissions", {"indicator": "2.1", "statement": "已印发"}, 201,
         ("admin", "office", "宣传教育部", "auditor", "西岗区"), other_body={"indicator": "2.1", "statement": "另一份"}),
    Call("return submission", "宣传教育部", "/submissions/{submission}/return", {"reason": "请补充"}, 201,
         ("office", "组织建设部", "auditor", "中山区"), other_body={"reason": "另一个理由"}),
    Call("publish", "admin", "/publication", {"days": 5}, 201, ("office", "宣传教育部", "auditor", "中山区"),
         other_body={"days": 3}),
    Call("close year", "admin", "/close", {"force": True}, 200, ("office", "宣传教育部", "auditor", "中山区"),
         other_body={"force": True, "note": "另一个说明"}),
    Call("set bulletin", "office", "/bulletin", {"number": "大工发〔2019〕3号", "date": "2019-01-20"}, 201,
         ("宣传教育部", "组织建设部", "auditor", "中山区"),
         other_body={"number": "大工发〔2019〕4号", "date": "2019-01-20"}),
]


# Multipart calls, whose role and idempotency tests live beside their other tests.
MULTIPART = {"/api/years/{year}/imports": "tests/test_http_import.py"}


def send(api, who: str, call: Call, world: dict[str, str], key: str | None = None, other: bool = False):
    body = call.other_body if other and call.other_body else call.body
    if call.upload:
        (name, data), = body.items()
        return api.client.post(f"/api{call.url(world, other)}", headers=api.headers(who, key),
                               files={"file": (name, data, "application/pdf")})
    return api.post(who, call.url(world, other), body, key=key)


def test_every_post_of_the_contract_is_covered(client):
    """A new POST route must join CALLS (and so the role and idempotency tests)."""
    posts = {path for path, item in client.get("/openapi.json").json()["paths"].items() if "post" in item}
    # A cosignature records no event (it is kept beside the log): tests/test_log_http.py covers its roles and key.
    posts -= {"/api/years/{year}/log/cosignatures"}
    assert len(posts) == len(CALLS) + len(MULTIPART) and set(MULTIPART) <= posts


@pytest.mark.parametrize("call", CALLS, ids=[c.name for c in CALLS])
def test_each_role_outside_the_table_is_refused_and_nothing_is_recorded(api, world, stored_events, call):
    before = stored_events()
    totals = api.totals()
    for who in call.refused:
        error_of(send(api, who, call, world), 403, code="forbidden")
    assert stored_events() == before
    assert api.totals() == totals
    r = send(api, call.who, call, world)  # the same request from the right role succeeds
    assert r.status_code == call.status, r.text
    assert stored_events() > before


@pytest.mark.parametrize("call", CALLS, ids=[c.name for c in CALLS])
def test_an_idempotent_retry_returns_the_first_response_and_records_nothing(api, world, stored_events, call):
    first = send(api, call.who, call, world, key="retry-1")
    assert first.status_code == call.status, first.text
    assert "Idempotent-Replay" not in first.headers
    recorded = stored_events()
    totals = api.totals(year=2019) if call.name == "open year" else api.totals()

    again = send(api, call.who, call, world, key="retry-1")
    assert again.status_code == call.status
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replay"] == "true"
    assert stored_events() == recorded
    assert (api.totals(year=2019) if call.name == "open year" else api.totals()) == totals

    reused = send(api, call.who, call, world, key="retry-1", other=True)
    error_of(reused, 422, field="Idempotency-Key", code="idempotency_key_reused")
    assert stored_events() == recorded


def test_without_a_key_a_repeated_request_records_again(api, world):
    # (the same meeting twice is a duplicate, refused unless confirmed: confirmed here, so it records twice)
    body = {"title": "推进会", "held_on": "2018-09-01", "absent": ["西岗区"], "allow_duplicate": True}
    assert api.post("office", f"{Y}/meetings", body).status_code == 201
    assert api.post("office", f"{Y}/meetings", body).status_code == 201
    assert api.totals()["西岗区"] == 99


def test_keys_belong_to_the_token_that_used_them(api, make_headers, world, stored_events):
    other_office = make_headers("office", name="办公室第二人")
    body = {"title": "推进会", "held_on": "2018-09-01", "absent": ["西岗区"], "allow_duplicate": True}
    first = api.post("office", f"{Y}/meetings", body, key="shared")
    second = api.client.post(f"/api{Y}/meetings", json=body, headers={**other_office, "Idempotency-Key": "shared"})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert api.totals()["西岗区"] == 99


def test_a_refused_request_does_not_take_its_key(api, world):
    body = {"title": "推进会", "held_on": "2018-09-01", "absent": ["西岗区"]}
    error_of(api.post("office", f"{Y}/meetings", {**body, "held_on": "2018-13-01"}, key="k"), 422, field="held_on")
    r = api.post("office", f"{Y}/meetings", body, key="k")
    assert r.status_code == 201 and "Idempotent-Replay" not in r.headers


# --- reads ---------------------------------------------------------------------------------------------

READS = [
    ("/years", ()), ("", ()), ("/rubric", ()), ("/disputes", ()),
    ("/scores", ("中山区", "西岗区", "沙河口区")),
    ("/districts/中山区/score", ("西岗区", "沙河口区")),
    ("/districts/中山区/score/diff?since=2018-01-01", ("西岗区", "沙河口区")),
    ("/districts/中山区/audit", ("西岗区", "沙河口区")),
    ("/districts/中山区/audit?format=csv", ("西岗区", "沙河口区")),
    ("/meetings", ("宣传教育部", "组织建设部", "中山区", "西岗区", "沙河口区")),
    ("/reports", ("宣传教育部", "组织建设部", "中山区", "西岗区", "沙河口区")),
    ("/tasks", ("宣传教育部", "组织建设部", "中山区", "西岗区", "沙河口区")),
    ("/bulletin.pdf", ("宣传教育部", "组织建设部", "中山区", "西岗区", "沙河口区")),
    ("/districts/中山区/statement.pdf", ("西岗区", "沙河口区")),
    ("/rubrics", ()),
    ("/submissions", ("中山区", "西岗区", "沙河口区")),
    ("/districts/中山区/submissions", ("西岗区", "沙河口区")),
    ("/districts/中山区/evidence", ("西岗区", "沙河口区")),
]


@pytest.mark.parametrize("path, refused", READS, ids=[p or "/year" for p, _ in READS])
def test_reads_follow_the_role_table(api, world, path, refused):
    url = path if path in ("/years", "/rubrics") else f"{Y}{path}"
    for who in ROLES:
        r = api.client.get(f"/api{url}", headers=api.auth[who])
        if who in refused:
            error_of(r, 403, code="forbidden")
        else:
            assert r.status_code == 200, (who, r.text)
