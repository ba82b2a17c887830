"""The cycle's events on the event-sourced path: views rebuilt from nothing equal the live ones, the fast
replay agrees, verify passes, and a year opened before `dispute_days` existed reads as 10 (the upcaster)."""

from __future__ import annotations

from datetime import datetime, timezone

from eventsourcing.persistence import StoredEvent

from domain.chain import GENESIS, chain_hash
from domain.chained import ChainedAggregate
from domain.ledger import DistrictLedger
from domain.year import year_id
from tests.conftest import YEAR
from tests.cycle_support import PDF, clock, upload  # noqa: F401 - the clock fixture

Y = f"/years/{YEAR}"
TABLES = {
    "view_submissions": "submission_id", "view_evidence": "sha256", "view_publications": "position",
    "view_rubrics": "rubric_id", "view_districts": "district", "view_findings": "finding_id",
    "view_disputes": "dispute_id", "view_signoffs": "district, indicator",
}


def snapshot(app) -> dict[str, list]:
    app.catch_up()
    return {t: app.views.query(f"SELECT * FROM {t} ORDER BY {order}") for t, order in TABLES.items()}


def test_rebuilt_views_equal_the_live_ones(api, app, clock):
    clock.set("2018-11-01T10:00")
    assert api.post("admin", "/years", {"year": YEAR, "rubric": "dalian-2018",
                                        "districts": ["中山区", "西岗区", "沙河口区"]}).status_code == 201
    sha = upload(api, "中山区", "中山区", PDF).json()["sha256"]
    first = api.post("中山区", f"{Y}/districts/中山区/submissions",
                     {"indicator": "2.1", "statement": "方案", "evidence": [f"sha256:{sha}"]}).json()["id"]
    api.post("宣传教育部", f"{Y}/submissions/{first}/return", {"reason": "补充"})
    api.post("中山区", f"{Y}/districts/中山区/submissions", {"indicator": "2.1", "statement": "补充后"})
    api.post("宣传教育部", f"{Y}/districts/中山区/signoffs", {"indicator": "2.1"})
    finding = api.post("office", f"{Y}/meetings", {"title": "会", "held_on": "2018-10-30",
                                                   "absent": ["西岗区"]}).json()["findings"][0]["id"]
    clock.set("2018-12-03T10:00")
    api.post("admin", f"{Y}/publication", {"days": 5})
    api.post("西岗区", f"{Y}/findings/{finding}/disputes", {"statement": "已请假"})
    live = snapshot(app)
    assert all(live[t] for t in ("view_submissions", "view_evidence", "view_publications", "view_disputes"))

    result = app.replay(YEAR)
    assert result["verified"]["ok"]
    assert snapshot(app) == live
    assert app.verify(YEAR)["ok"]
    # the submission rows say what the one history fold says
    assert [(r[0], r[9], r[10]) for r in live["view_submissions"]] == sorted(
        [(first, "returned", 1), (api.get("中山区", f"{Y}/districts/中山区/submissions").json()["submissions"][1]["id"],
                                   "reviewed", 0)])


def test_a_year_opened_before_dispute_days_reads_ten(app):
    """A stored v1 Opened event (no dispute_days, no class_version), written as the old code wrote it."""
    timestamp = datetime(2018, 1, 5, 1, 0, tzinfo=timezone.utc)
    topic = "domain.year:AssessmentYear.Opened"
    aggregate = year_id(YEAR)
    state = {"year": YEAR, "rubric": "dalian-2018", "rubric_hash": app_rubric_hash(app),
             "districts": ["中山区"], "actor": {"name": "旧版本", "role": "admin"}, "prev_hash": GENESIS,
             "originator_topic": "domain.year:AssessmentYear"}
    digest = chain_hash(topic, str(aggregate), 1, {**state, "timestamp": timestamp.isoformat()})
    stored = StoredEvent(originator_id=aggregate, originator_version=1, topic=topic,
                         state=app.mapper.transcoder.encode({**state, "hash": digest, "timestamp": timestamp}))
    app.recorder.insert_events([stored])
    app.save(DistrictLedger.open(year=YEAR, district="中山区", rubric="dalian-2018",
                                 rubric_hash=app_rubric_hash(app), actor={"name": "旧版本", "role": "admin"}))
    info = app.year_info(YEAR)
    assert info["dispute_days"] == 10 and info["stage"] == "open"
    assert app.verify(YEAR)["ok"]
    assert isinstance(app.repository.get(aggregate), ChainedAggregate)


def app_rubric_hash(app) -> str:
    from api.service.rubric_files import load_rubric

    return load_rubric("dalian-2018").content_hash
