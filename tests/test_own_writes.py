"""Read-your-writes per caller (api.service.own_writes): a read waits for what its own caller wrote, not for
everyone's writes; the views a read sees never go back; another caller asks for a position with
Kaohe-Read-After (the API) or the `kaohe_written` cookie (pages)."""

from __future__ import annotations

import time
from decimal import Decimal

from api.service.application import READ_WAIT
from domain.actors import Actor
from tests.conftest import YEAR

FINDING = {"clause": "8.2.b", "occurred_on": "2018-03-01"}  # −0.5


def total(api, who: str, district: str = "中山区", **headers: str) -> Decimal:
    r = api.client.get(f"/api/years/{YEAR}/districts/{district}/score", headers={**api.headers(who), **headers})
    assert r.status_code == 200, r.text
    return Decimal(str(r.json()["total"]))


def test_a_read_waits_for_its_callers_own_writes_and_not_for_another_callers(api, app, year_2018):
    assert total(api, "auditor") == total(api, "office") == 100  # both tokens known, the views caught up
    app.runner.stop()  # from here the views move only when a read has a write of its caller's to wait for
    r = api.post("office", f"/years/{YEAR}/districts/中山区/findings", FINDING)
    assert r.status_code == 201, r.text
    position = int(r.headers["Kaohe-Position"])

    started = time.monotonic()
    assert total(api, "auditor") == 100  # the auditor wrote nothing: answered from the views as they are
    assert time.monotonic() - started < READ_WAIT / 2  # … at once, not after waiting for the office's write
    assert total(api, "office") == Decimal("99.5")  # the writer's own read shows its write
    assert total(api, "auditor") == Decimal("99.5")  # and the views never go back

    r = api.post("office", f"/years/{YEAR}/districts/中山区/findings", FINDING)
    assert total(api, "auditor") == Decimal("99.5")
    assert total(api, "auditor", **{"Kaohe-Read-After": r.headers["Kaohe-Position"]}) == 99  # asked for it
    assert int(r.headers["Kaohe-Position"]) > position


def test_group_committed_writers_each_read_their_own_write(api, app, year_2018, make_headers):
    """Findings saved together in one transaction (the findings route's group commit): each command's caller
    reads what the batch wrote; another caller does not wait for it."""
    second = make_headers("office", name="办公室二")
    total(api, "office")
    api.client.get(f"/api/years/{YEAR}/scores", headers=second)
    app.runner.stop()
    office, other = Actor("office", "office"), Actor("办公室二", "office")
    answers = app.run_together([
        lambda: app.record_finding(office, year=YEAR, district="西岗区", **FINDING),
        lambda: app.record_finding(other, year=YEAR, district="沙河口区", **FINDING),
    ])
    assert all("receipt" in a for a in answers)
    assert app.own_writes.of(office, 0) == app.own_writes.of(other, 0) == app.written_position
    assert total(api, "auditor", "沙河口区") == 100
    r = api.client.get(f"/api/years/{YEAR}/districts/沙河口区/score", headers=second)
    assert Decimal(str(r.json()["total"])) == Decimal("99.5")
