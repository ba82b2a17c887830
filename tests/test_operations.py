"""What operators read: /health with each projection's position against the store's head, and /metrics
in the Prometheus text format, parsed with prometheus-client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import YEAR


def metrics(client) -> dict[str, list]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(r.text)}


def test_health_shows_each_projection_against_the_store_head(api, year_2018):
    api.post("office", f"/years/{YEAR}/districts/中山区/findings", {"clause": "8.2.b", "occurred_on": "2018-03-01"})
    api.totals()  # a read: the views have caught up with this process's write
    health = api.client.get("/health").json()
    assert health["status"] == "ok" and health["lag_events"] == 0
    assert set(health["projections"]) == {"scoreboard", "audit_log", "cycle", "merkle_log"}
    assert all(p == health["store_head"] for p in health["projections"].values())


def test_metrics_parse_and_name_the_lag_the_writes_and_the_batches(api, year_2018):
    api.post("office", f"/years/{YEAR}/districts/中山区/findings", {"clause": "8.2.b", "occurred_on": "2018-03-01"})
    api.totals()
    families = metrics(api.client)
    assert {"kaohe_projection_lag_events", "kaohe_projection_lag_seconds", "kaohe_projection_position",
            "kaohe_write_seconds", "kaohe_http_request_seconds", "kaohe_group_commit_batch_size",
            "kaohe_write_conflicts_retried"} <= set(families)
    lag = families["kaohe_projection_lag_events"][0].value
    assert lag == 0
    writes = {s.labels.get("command") for s in families["kaohe_write_seconds"] if s.name.endswith("_count")}
    assert "record_finding" in writes
    routes = {s.labels.get("route") for s in families["kaohe_http_request_seconds"] if s.name.endswith("_count")}
    assert "/api/years/{year}/districts/{district}/findings" in routes
    batches = [s for s in families["kaohe_group_commit_batch_size"] if s.name.endswith("_count")]
    assert batches and batches[0].value >= 1


def test_health_is_degraded_when_the_views_lag(app, api, year_2018, monkeypatch):
    app.runner.stop()  # nobody catches up any more
    monkeypatch.setattr("api.http.operations.MAX_LAG", 0)
    api.post("office", f"/years/{YEAR}/districts/中山区/findings", {"clause": "8.2.b", "occurred_on": "2018-03-01"})
    r = api.client.get("/health")
    assert r.status_code == 503 and r.json()["status"] == "degraded" and r.json()["lag_events"] >= 1
