"""The remembered ranking answers exactly as the route does, for the same readers, and never goes stale."""

from __future__ import annotations

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
