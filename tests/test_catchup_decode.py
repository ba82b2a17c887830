"""The catch-up reads each stored event with one orjson.loads instead of the library's mapper: what the
projections get must be what `mapper.to_domain_event` gives (upcasting included), for every event of a
played history and for a state holding tagged values other than its timestamp."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from api.service.history import stored_events
from domain.actors import Actor
from tests.conftest import YEAR
from tests.test_ledger import _store_a_version_1_finding

OFFICE = Actor("办公室", "office")
ORGANISATION = Actor("组织建设部", "department", department="组织建设部")
LIBRARY_ONLY = ("originator_id", "originator_version", "timestamp")


def library_reading(app, notification) -> tuple[str, dict, str]:
    event = app.mapper.to_domain_event(notification)
    state = {k: v for k, v in vars(event).items() if k not in LIBRARY_ONLY}
    return type(event).__qualname__, state, event.timestamp.isoformat(timespec="microseconds")


def catchup_reading(app, notification) -> tuple[str, dict, str]:
    name, state, recorded_at = app.catchup._decode(notification)
    return name, {k: v for k, v in state.items() if k not in LIBRARY_ONLY}, recorded_at


def test_every_event_reads_as_the_library_reads_it(app, year_2018):
    app.hold_meeting(OFFICE, year=YEAR, title="会议", held_on="2018-03-02", absent=["中山区"])
    f = app.record_finding(ORGANISATION, year=YEAR, district="西岗区", clause="6.1.a",
                           measures={"enterprise_rate": "80.5", "member_rate": "93"})
    app.retract_finding(ORGANISATION, year=YEAR, finding_id=f["id"], reason="录入错误")
    app.record_finding(OFFICE, year=YEAR, district="中山区", clause="8.2.b", occurred_on="2018-05-01")
    _store_a_version_1_finding(app, "沙河口区", clause="8.3.c")  # upcast on reading
    seen = 0
    for notification in stored_events(app):
        assert catchup_reading(app, notification) == library_reading(app, notification), notification.topic
        seen += 1
    assert seen > 10


def test_a_state_with_other_tagged_values_is_read_through_the_transcoder(app, year_2018):
    topic = "domain.ledger:DistrictLedger.FindingRecorded"
    state = {"finding_id": str(uuid4()), "clause": "8.2.b", "indicator": "8.2", "occurred_on": date(2018, 5, 1),
             "measures": {"rate": Decimal("90.5")}, "evidence": [], "note": None, "reference": None, "source": None,
             "actor": OFFICE.as_event(), "prev_hash": "0" * 64, "hash": "1" * 64,
             "timestamp": datetime(2018, 5, 1, 8, 0, tzinfo=UTC)}
    stored = StoredEvent(uuid4(), 2, topic, app.mapper.transcoder.encode(state))
    name, read, recorded_at = catchup_reading(app, stored)
    assert (name, read, recorded_at) == library_reading(app, stored)
    assert read["occurred_on"] == date(2018, 5, 1) and read["measures"] == {"rate": Decimal("90.5")}
    assert recorded_at == "2018-05-01T08:00:00.000000+00:00"  # a zero microsecond is still written out
