"""A new year's rubric without a release, on SQLite and PostgreSQL: `kaohe rubric check` and `kaohe rubric add`,
the admin's upload on the years page, the open-year list, and a year opened and scored on a rubric of another shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main as kaohe
from api.service.bootstrap import assemble
from domain.actors import Actor
from domain.errors import Forbidden, InvalidInput
from tests.conftest import DISTRICTS
from tests.test_http_api import error_of
from tests.test_http_evidence import set_database_env
from tests.test_web_pages import browser, field_error  # noqa: F401 - the browser fixture

HAND_WRITTEN = Path(__file__).parent / "rubrics" / "lianhe-2019.json"
ADMIN = Actor("admin", "admin")


def test_check_then_add_from_the_command_line_then_open_a_year_on_it(api, app, monkeypatch, tmp_path, capsys):
    assert kaohe(["rubric", "check", str(HAND_WRITTEN)]) == 0
    assert "lianhe-2019: 3 categories, 5 indicators, 6 clauses, 100 points" in capsys.readouterr().out
    set_database_env(monkeypatch, app)
    assert kaohe(["rubric", "add", str(HAND_WRITTEN)]) == 0
    assert "added: lianhe-2019" in capsys.readouterr().out
    assert kaohe(["rubric", "add", str(HAND_WRITTEN)]) == 0  # the same document again changes nothing
    assert "already stored" in capsys.readouterr().out

    changed = json.loads(HAND_WRITTEN.read_text("utf-8"))
    changed["categories"][2]["indicators"][1]["clauses"][0]["label"] = "改过的"
    other = tmp_path / "changed.json"
    other.write_text(json.dumps(changed, ensure_ascii=False), "utf-8")
    assert kaohe(["rubric", "add", str(other)]) == 1  # one id names one content
    assert "already exists with other content" in capsys.readouterr().err
    broken = dict(changed, id="broken-2019", total=90)
    other.write_text(json.dumps(broken, ensure_ascii=False), "utf-8")
    assert kaohe(["rubric", "add", str(other)]) == 1  # refused by the check, nothing stored
    shipped = dict(json.loads(HAND_WRITTEN.read_text("utf-8")), id="dalian-2018")
    other.write_text(json.dumps(shipped, ensure_ascii=False), "utf-8")
    assert kaohe(["rubric", "add", str(other)]) == 1
    capsys.readouterr()

    app.catch_up()  # the command line wrote from another application object
    listed = {r["id"]: r for r in api.get("admin", "/rubrics").json()["rubrics"]}
    assert listed["lianhe-2019"]["source"] == "added" and listed["dalian-2018"]["source"] == "shipped"
    assert "broken-2019" not in listed

    r = api.post("admin", "/years", {"year": 2019, "rubric": "lianhe-2019", "districts": DISTRICTS})
    assert r.status_code == 201, r.text
    assert r.json()["rubric_hash"] == listed["lianhe-2019"]["content_hash"]
    tree = api.get("office", "/years/2019/rubric").json()
    assert [c["id"] for c in tree["categories"]] == ["A", "B", "C"]
    assert [i["id"] for c in tree["categories"] for i in c["indicators"]] == ["A.1", "A.2", "B.1", "C.1", "C.2"]

    dept = api.auth["组织建设部"]
    assert api.client.post("/api/years/2019/districts/中山区/findings", headers=dept,
                           json={"clause": "A.1.y", "measures": {"rate": 85}}).status_code == 201  # 2 full steps
    for day in ("2019-03-01", "2019-04-01"):
        assert api.post("office", "/years/2019/meetings",
                        {"title": f"会议{day}", "held_on": day, "absent": ["中山区"]}).status_code == 409  # no 8.2 here
        assert api.post("office", "/years/2019/districts/中山区/findings",
                        {"clause": "B.1.x", "occurred_on": day}).status_code == 201
    error_of(api.post("宣传教育部", "/years/2019/districts/中山区/findings", {"clause": "A.1.x"}), 403)
    assert api.totals(year=2019)["中山区"] == 88  # 100 − 2 − 2 × 5

    # a restarted service finds the pinned rubric in the store and checks its hash
    restarted = assemble(app.env_dict() | {k: app.env.get(k) for k in ("POSTGRES_SCHEMA",) if app.env.get(k)},
                         follow=False)
    try:
        assert restarted.rubric_of_year(2019).content_hash == listed["lianhe-2019"]["content_hash"]
        assert restarted.scores(ADMIN, 2019)["districts"][-1]["total"] == 88
    finally:
        restarted.close()


def test_the_admin_uploads_a_rubric_on_the_years_page_and_opens_a_year_on_it(browser, app):
    browser.sign_in("admin")
    page = browser.get("/web/years").text
    assert '<select id="rubric" name="rubric"' in page and "lianhe-2019" not in page
    bad = browser.post("/web/rubrics", {"_key": "k1"}, files={"file": ("x.json", b'{"id": "x", "total": 100}')})
    assert bad.status_code == 422 and "考核细则无效" in field_error(bad.text, "rubric")
    forged = browser.client.post("/web/rubrics", files={"file": ("lianhe.json", HAND_WRITTEN.read_bytes())},
                                 data={"_key": "k2"}, headers={"Origin": "http://evil.example"})
    assert forged.status_code == 403  # the CSRF check covers the upload forms too
    r = browser.post("/web/rubrics", {"_key": "k2"}, files={"file": ("lianhe.json", HAND_WRITTEN.read_bytes())})
    assert r.status_code == 200 and "考核细则已添加" in r.text
    assert '<option value="lianhe-2019">lianhe-2019 · 测试用考核细则' in r.text
    opened = browser.post("/web/years", {"year": "2019", "rubric": "lianhe-2019", "districts": "中山区\n西岗区",
                                         "dispute_days": "5"})
    assert opened.status_code == 200 and "考核年度已开启" in opened.text
    info = app.year_info(2019)
    assert (info["rubric"], info["dispute_days"]) == ("lianhe-2019", 5)
    refused = browser.post("/web/years", {"year": "2020", "rubric": "lianhe-2019", "districts": "中山区",
                                          "dispute_days": "0"})
    assert refused.status_code == 422 and field_error(refused.text, "dispute_days")


def test_only_admin_adds_a_rubric_and_nothing_is_recorded_on_refusal(app, stored_events):
    for actor in (Actor("office", "office"), Actor("审计", "auditor"), Actor("中山区", "district", district="中山区")):
        with pytest.raises(Forbidden):
            app.add_rubric(actor, text=HAND_WRITTEN.read_text("utf-8"))
    with pytest.raises(InvalidInput) as refused:
        app.add_rubric(ADMIN, text="{not json")
    assert refused.value.field == "rubric"
    assert stored_events() == 0
