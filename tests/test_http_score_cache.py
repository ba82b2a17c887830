"""The remembered ranking answers exactly as the route does, for the same readers, and never goes stale."""

from __future__ import annotations

from domain.actors import Actor
from tests.conftest import YEAR

Y = "/years/2018"


def test_the_remembered_ranking_is_the_routes_answer_and_follows_every_write(api, year_2018):
    first = api.get("office", f"{Y}/scores")  # computed by the route, then remembered
    again = api.get("auditor", f"{Y}/scores")  # answered from memory
    assert first.status_code == again.status_code == 200
    assert first.content == again.content and again.headers["content-type"] == "application/json"
    api.post("office", f"{Y}/meetings", {"title": "会", "held_on": "2018-03-02", "absent": ["中山区"]})
    after = api.get("auditor", f"{Y}/scores").json()
    assert {d["district"]: d["total"] for d in after["districts"]}["中山区"] == 99.5
    assert api.get("auditor", f"{Y}/scores").json() == after


def test_the_remembered_ranking_keeps_the_role_table(api, year_2018):
    assert api.get("office", f"{Y}/scores").status_code == 200
    r = api.get("中山区", f"{Y}/scores")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = api.get(None, f"{Y}/scores")
    assert r.status_code == 401 and r.json()["error"]["message"]
    r = api.client.get(f"/api{Y}/scores", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401


def test_as_of_and_other_years_go_to_the_route(api, year_2018):
    api.get("office", f"{Y}/scores")
    assert api.get("office", f"{Y}/scores", as_of="2018-01-01").json()["as_of"] is not None
    assert api.get("office", "/years/2017/scores").status_code == 404


def test_a_breakdown_not_remembered_is_made_before_routing_and_is_the_routes_answer(api, year_2018, monkeypatch):
    # The middleware makes a breakdown nobody has read yet itself, in a thread, with the route's function;
    # the answer equals the one FastAPI's route gives (?findings=shown goes to the route), and a read of a
    # district the year lacks, or by a reader it is not for, still gets the route's error.
    from api.http import score_cache

    made: list = []
    real = score_cache.breakdown_json
    monkeypatch.setattr(score_cache, "breakdown_json", lambda *a: made.append(a[2:4]) or real(*a))
    api.get("office", f"{Y}/scores")  # the office's token found once (the middleware asks only remembered ones)
    api.post("office", f"{Y}/meetings", {"title": "会", "held_on": "2018-03-02", "absent": ["中山区"]})
    before = api.get("office", f"{Y}/districts/中山区/score")
    assert before.status_code == 200 and made == [(2018, "中山区")]
    routed = api.get("office", f"{Y}/districts/中山区/score", findings="shown")  # a query string: the route
    assert routed.json() == before.json() and before.json()["total"] == 99.5
    missing = api.get("office", f"{Y}/districts/不存在区/score")
    assert missing.status_code == 404 and missing.json()["error"]["message"]
    assert api.get("西岗区", f"{Y}/districts/中山区/score").status_code == 403


def test_reads_answered_before_routing_are_timed_under_their_routes_and_keep_ascii_years(api, year_2018):
    from prometheus_client.parser import text_string_to_metric_families

    api.get("office", f"{Y}/scores")
    for _ in range(2):  # made by the middleware, then remembered: both before FastAPI's routing
        assert api.get("office", f"{Y}/districts/中山区/score").status_code == 200
        assert api.get("office", f"{Y}/scores").status_code == 200
    text = api.client.get("/metrics").text
    counts = {(s.labels.get("route"), s.labels.get("status")): s.value
              for f in text_string_to_metric_families(text) if f.name == "kaohe_http_request_seconds"
              for s in f.samples if s.name.endswith("_count")}
    assert counts[("/api/years/{year}/districts/{district}/score", "200")] >= 2
    assert counts[("/api/years/{year}/scores", "200")] >= 3
    assert ("unmatched", "200") not in counts
    # A year in full-width digits is not a year to the route (422): the middleware leaves it to the route.
    assert api.get("office", "/years/２０１８/districts/中山区/score").status_code == 422


def test_a_read_naming_a_position_is_answered_before_routing_once_the_views_show_it(api, app, year_2018, monkeypatch):
    # What a client sends right after its write (Kaohe-Read-After: the write's Kaohe-Position): the middleware
    # waits for that position in a thread, as the route would, and answers what the route answers.
    from api.http import score_cache

    made: list = []
    real = score_cache.ranking_bytes
    monkeypatch.setattr(score_cache, "ranking_bytes", lambda *a: made.append(a[2:]) or real(*a))
    api.get("auditor", f"{Y}/scores")  # the auditor's token found once
    app.runner.stop()  # from here the views move only when a read waits for a position
    r = api.post("office", f"{Y}/meetings", {"title": "会", "held_on": "2018-03-02", "absent": ["中山区"]})
    position = r.headers["Kaohe-Position"]
    told = {**api.headers("auditor"), "Kaohe-Read-After": position}
    read = api.client.get(f"/api{Y}/scores", headers=told)
    assert read.status_code == 200 and made == [(2018, int(position))]
    assert {d["district"]: d["total"] for d in read.json()["districts"]}["中山区"] == 99.5
    again = api.client.get(f"/api{Y}/scores", headers=told)  # the views show it now: answered from memory
    assert again.content == read.content and len(made) == 1
    breakdown = api.client.get(f"/api{Y}/districts/中山区/score", headers=told)
    assert breakdown.status_code == 200 and breakdown.json()["total"] == 99.5


def test_a_read_after_that_is_not_a_position_gets_the_routes_error(api, year_2018):
    api.get("office", f"{Y}/scores")
    for bad in ("abc", "-1", "1.5"):
        r = api.client.get(f"/api{Y}/scores", headers={**api.headers("office"), "Kaohe-Read-After": bad})
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["field"] == "Kaohe-Read-After", r.json()


def test_readers_who_miss_the_remembered_answer_together_wait_for_one_of_them_to_make_it(app, year_2018):
    # Right after each catch-up every reader of the ranking misses at once: one makes the answer, the others
    # take it, and one made for the views' position then is answered without being made again.
    import threading
    import time as clock

    app.fresh()
    made: list[int] = []
    barrier = threading.Barrier(8)
    answers: list[object] = []

    def make() -> object:
        made.append(1)
        clock.sleep(0.2)  # long enough for every reader to arrive meanwhile
        return object()

    def read() -> None:
        barrier.wait()
        answers.append(app.remembered("scores.json", YEAR, make))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1 and len(answers) == 8 and len({id(a) for a in answers}) == 1
    app.record_finding(Actor("office", "office"), year=YEAR, district="中山区", clause="8.2.b", occurred_on="2018-03-01")
    again = app.remembered("scores.json", YEAR, make)  # the views moved on: made again
    assert len(made) == 2 and again is not answers[0]
