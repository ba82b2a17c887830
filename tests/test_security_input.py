"""Abuse controls and strict input through the HTTP API: body and field limits (413/422 naming the
field, nothing recorded), bidi controls, dates only as YYYY-MM-DD, duplicate JSON keys refused."""

from __future__ import annotations

import json

import pytest

from domain.errors import InvalidInput
from domain.text import check_input, iso_date
from tests.conftest import YEAR

Y = f"/years/{YEAR}"


def error_of(r, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    if field is not None:
        assert error.get("field") == field, error
    return error


def post_raw(api, who: str, path: str, body: bytes, content_type: str = "application/json"):
    return api.client.post(f"/api{path}", content=body, headers={**api.headers(who), "Content-Type": content_type})


def test_a_body_over_one_mebibyte_is_413_and_records_nothing(api, year_2018, stored_events):
    before = stored_events()
    big = json.dumps({"title": "会议", "held_on": "2018-03-01", "note": "记" * (600 * 1024)}).encode()
    assert len(big) > 1 << 20
    error = error_of(post_raw(api, "office", f"{Y}/meetings", big), 413, field="body")
    assert error["code"] == "too_large"
    assert stored_events() == before


@pytest.mark.parametrize("path, body, field", [
    ("/meetings", {"title": "会议", "held_on": "2018-03-01", "note": "记" * 2001}, "note"),
    ("/meetings", {"title": "会" * 201, "held_on": "2018-03-01"}, "title"),
    ("/meetings", {"title": "会议", "held_on": "2018-03-01", "evidence": [f"材料{i}" for i in range(51)]}, "evidence"),
    ("/reports", {"title": "报" * 201, "due_on": "2018-07-10"}, "title"),
], ids=["note", "meeting title", "evidence list", "report title"])
def test_oversized_fields_are_422_naming_the_field_and_record_nothing(api, year_2018, stored_events, path, body,
                                                                       field):
    before = stored_events()
    error_of(api.post("office", Y + path, body), 422, field=field)
    assert stored_events() == before


def test_a_districts_long_dispute_statement_is_refused(api, year_2018, stored_events):
    finding = api.post("office", f"{Y}/meetings", {"title": "会议", "held_on": "2018-03-01",
                                                   "absent": ["中山区"]}).json()["findings"][0]["id"]
    before = stored_events()
    error_of(api.post("中山区", f"{Y}/findings/{finding}/disputes", {"statement": "申" * 2001}), 422, field="statement")
    assert stored_events() == before
    assert api.post("中山区", f"{Y}/findings/{finding}/disputes", {"statement": "申" * 2000}).status_code == 201


def test_the_limits_themselves_are_accepted(api, year_2018):
    body = {"title": "会" * 200, "held_on": "2018-03-01", "note": "记" * 2000,
            "evidence": [f"材料{i}" for i in range(50)]}
    assert api.post("office", f"{Y}/meetings", body).status_code == 201


@pytest.mark.parametrize("control", ["\u202e", "\u202a", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c"])
def test_bidi_controls_in_free_text_are_refused(api, year_2018, stored_events, control):
    before = stored_events()
    body = {"title": "会议", "held_on": "2018-03-01", "note": f"正常{control}txt.exe"}
    error_of(api.post("office", f"{Y}/meetings", body), 422, field="note")
    assert stored_events() == before


@pytest.mark.parametrize("value", ["20180301", "2018-3-1", "2018-03-01T00:00", "2018-W09-4", " 2018-03-01"])
def test_dates_only_as_yyyy_mm_dd(api, year_2018, stored_events, value):
    before = stored_events()
    error_of(api.post("office", f"{Y}/meetings", {"title": "会议", "held_on": value}), 422, field="held_on")
    assert stored_events() == before


def test_as_of_takes_only_iso_dates_and_datetimes(api, year_2018):
    assert api.get("auditor", f"{Y}/scores", as_of="2018-12-31").status_code == 200
    assert api.get("auditor", f"{Y}/scores", as_of="2018-12-31T18:00:00+08:00").status_code == 200
    for value in ("20181231", "20181231T180000", "2018-12-31T1800"):
        error_of(api.get("auditor", f"{Y}/scores", as_of=value), 422, field="as_of")
        error_of(api.get("中山区", f"{Y}/districts/中山区/score", as_of=value), 422, field="as_of")


def test_duplicate_keys_in_a_json_body_are_refused(api, year_2018, stored_events):
    before = stored_events()
    body = b'{"title": "\xe4\xbc\x9a\xe8\xae\xae", "held_on": "2018-03-01", "absent": [], "absent": ["\xe4\xb8\xad\xe5\xb1\xb1\xe5\x8c\xba"]}'
    error = error_of(post_raw(api, "office", f"{Y}/meetings", body), 422, field="absent")
    assert error["code"] == "duplicate_key"
    nested = b'{"clause": "2.1.a", "measures": {"rate": 1, "rate": 2}}'
    error_of(post_raw(api, "office", f"{Y}/districts/%E4%B8%AD%E5%B1%B1%E5%8C%BA/findings", nested), 422, field="rate")
    assert stored_events() == before


def test_not_json_at_all_is_still_the_usual_422(api, year_2018):
    error_of(post_raw(api, "office", f"{Y}/meetings", b"{not json"), 422, field="body")


# --- the unit below: domain.text ------------------------------------------------------------

def test_limits_follow_the_last_part_of_a_dotted_field():
    check_input({"note": "记" * 2000}, "findings")
    with pytest.raises(InvalidInput) as refused:
        check_input([{"note": "记" * 2001}], "findings")
    assert refused.value.field == "findings.note"


def test_iso_date_refuses_the_compact_form():
    assert iso_date("2018-03-01", "d").isoformat() == "2018-03-01"
    with pytest.raises(InvalidInput):
        iso_date("20180301", "d")
