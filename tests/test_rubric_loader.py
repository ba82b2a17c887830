"""The rubric loader refuses broken documents and names the place; measures are checked.

Each broken document is the real `dalian-2018` document, deep-copied, with exactly one
thing broken.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from importlib import resources

import pytest

from api.service.rubric_files import load_rubric, parse_rubric_text
from domain.errors import InvalidInput
from domain.findings import check_measures
from domain.rubric import RubricError, parse_rubric

TEXT = resources.files("domain.rubrics").joinpath("dalian-2018.json").read_text("utf-8")
ORIGINAL = json.loads(TEXT, parse_float=Decimal, parse_int=Decimal)
RUBRIC = load_rubric("dalian-2018")


def fresh() -> dict:
    return copy.deepcopy(ORIGINAL)


def category(doc: dict, category_id: str) -> dict:
    return next(c for c in doc["categories"] if c["id"] == category_id)


def indicator(doc: dict, indicator_id: str) -> dict:
    return next(i for c in doc["categories"] for i in c["indicators"] if i["id"] == indicator_id)


def clause(doc: dict, clause_id: str) -> dict:
    indicator_id = clause_id.rsplit(".", 1)[0]
    return next(c for c in indicator(doc, indicator_id)["clauses"] if c["id"] == clause_id)


def refused(doc: dict) -> str:
    with pytest.raises(RubricError) as info:
        parse_rubric(doc)
    return str(info.value)


def test_the_unbroken_copy_parses():
    rubric = parse_rubric(fresh())
    assert rubric.content_hash == RUBRIC.content_hash
    assert len(rubric.indicators) == 30


def test_breaking_a_copy_leaves_the_original_alone():
    doc = fresh()
    clause(doc, "1.1.a")["kind"] = "bonus"
    refused(doc)
    assert clause(ORIGINAL, "1.1.a")["kind"] == "flag"
    assert parse_rubric(fresh()).content_hash == RUBRIC.content_hash


# --- broken documents ------------------------------------------------------------------


def test_unknown_clause_kind_names_clause_and_kind():
    doc = fresh()
    clause(doc, "2.1.a")["kind"] = "bonus"
    message = refused(doc)
    assert "2.1.a" in message and "bonus" in message


def test_missing_points_names_the_clause():
    doc = fresh()
    del clause(doc, "1.1.b")["points"]
    message = refused(doc)
    assert "1.1.b" in message and "points" in message


def test_missing_per_on_an_occurrence_names_the_clause():
    doc = fresh()
    del clause(doc, "8.5.a")["per"]
    message = refused(doc)
    assert "8.5.a" in message and "per" in message


def test_category_whose_indicators_do_not_add_up_names_the_category():
    doc = fresh()
    indicator(doc, "4.1")["points"] = Decimal("4")  # category 4 now 13 for 12
    message = refused(doc)
    assert "category 4" in message
    assert "13" in message and "12" in message


def test_category_points_changed_alone_names_the_category():
    doc = fresh()
    category(doc, "7")["points"] = Decimal("11")
    message = refused(doc)
    assert "category 7" in message


def test_total_not_100_is_refused():
    doc = fresh()
    doc["total"] = Decimal("90")
    message = refused(doc)
    assert "total" in message and "90" in message and "100" in message


def test_categories_not_adding_up_to_the_total_is_refused():
    doc = fresh()
    # Category 8 and its 8.5 both grow by 1: consistent inside, 101 overall.
    category(doc, "8")["points"] = Decimal("21")
    indicator(doc, "8.5")["points"] = Decimal("4")
    message = refused(doc)
    assert "101" in message and "total" in message


@pytest.mark.parametrize(
    "where, duplicate",
    [
        ("clause", "1.1.a"),
        ("indicator", "2.1"),
        ("category", "1"),
        ("clause-across-indicators", "2.1.a"),
    ],
)
def test_duplicate_ids_name_the_id(where, duplicate):
    doc = fresh()
    if where == "clause":
        clause(doc, "1.1.b")["id"] = duplicate
    elif where == "indicator":
        indicator(doc, "2.2")["id"] = duplicate
    elif where == "category":
        category(doc, "2")["id"] = duplicate
    else:
        clause(doc, "2.2.a")["id"] = duplicate
    message = refused(doc)
    assert "duplicate" in message and repr(duplicate) in message


@pytest.mark.parametrize(
    "path, key",
    [
        (("clause", "5.4.b"), "per"),
        (("clause", "1.1.a"), "points"),
        (("indicator", "7.1"), "points"),
        (("document",), "total"),
    ],
)
def test_a_float_instead_of_decimal_is_refused(path, key):
    doc = fresh()
    if path[0] == "clause":
        target = clause(doc, path[1])
    elif path[0] == "indicator":
        target = indicator(doc, path[1])
    else:
        target = doc
    target[key] = float(target[key])
    message = refused(doc)
    assert "float" in message and key in message
    if len(path) > 1:
        assert path[1] in message


def test_a_float_read_through_plain_json_is_refused():
    # Parsing without parse_float=Decimal turns 0.5 into a float: refused, not rounded.
    doc = json.loads(TEXT)
    message = refused(doc)
    assert "float" in message


def test_exemption_pointing_at_an_unknown_clause_is_refused():
    doc = fresh()
    clause(doc, "7.3.c")["exempts"] = ["7.3.z"]
    message = refused(doc)
    assert "7.3.c" in message and "7.3.z" in message


def test_exemption_pointing_at_another_indicators_clause_is_refused():
    doc = fresh()
    clause(doc, "7.3.c")["exempts"] = ["7.4.a"]
    message = refused(doc)
    assert "7.3.c" in message and "7.4.a" in message


def test_exemption_without_targets_is_refused():
    doc = fresh()
    del clause(doc, "8.4.b")["exempts"]
    message = refused(doc)
    assert "8.4.b" in message and "exempts" in message


def test_tiered_clause_without_a_tier_for_zero_is_refused():
    doc = fresh()
    tiers = clause(doc, "2.1.b")["tiers"]
    clause(doc, "2.1.b")["tiers"] = [t for t in tiers if t["min"] != 0]
    message = refused(doc)
    assert "2.1.b" in message and "0" in message


def test_gate_not_worth_the_whole_indicator_is_refused():
    doc = fresh()
    clause(doc, "8.3.b")["points"] = Decimal("4")
    message = refused(doc)
    assert "8.3.b" in message


def test_clause_worth_more_than_its_indicator_is_refused():
    doc = fresh()
    clause(doc, "5.3.a")["points"] = Decimal("1.5")
    message = refused(doc)
    assert "5.3.a" in message


def test_indicator_without_departments_is_refused():
    doc = fresh()
    indicator(doc, "6.4")["departments"] = []
    message = refused(doc)
    assert "6.4" in message


def test_mismatched_clause_points_warn_and_do_not_crash():
    doc = fresh()
    clause(doc, "1.1.a")["points"] = Decimal("4")  # 1.1 now carries 9 for 10
    rubric = parse_rubric(doc)
    assert any(w.startswith("indicator 1.1:") for w in rubric.warnings)
    assert rubric.indicator("1.1").points == Decimal("10")
    assert rubric.clause("1.1.a").points == Decimal("4")


def test_invalid_json_text_is_a_rubric_error():
    with pytest.raises(RubricError):
        parse_rubric_text(TEXT[:-10])


def test_unknown_rubric_id_is_a_rubric_error():
    with pytest.raises(RubricError) as info:
        load_rubric("nowhere-1999")
    assert "nowhere-1999" in str(info.value)


# --- check_measures --------------------------------------------------------------------

RATES = RUBRIC.clause("5.4.b")  # two rates: enterprise_rate, large_enterprise_rate
COUNT = RUBRIC.clause("7.4.a")  # one count
TIERED = RUBRIC.clause("2.1.b")  # one count
FLAG = RUBRIC.clause("1.1.a")  # no measures


def invalid(clause_, measures) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        check_measures(clause_, measures)
    return info.value


def test_valid_measures_become_decimals():
    got = check_measures(RATES, {"enterprise_rate": "80", "large_enterprise_rate": Decimal("90.5")})
    assert got == {"enterprise_rate": Decimal("80"), "large_enterprise_rate": Decimal("90.5")}
    assert all(isinstance(v, Decimal) for v in got.values())
    assert check_measures(COUNT, {"count": 30}) == {"count": Decimal("30")}
    assert check_measures(FLAG, None) == {}
    assert check_measures(FLAG, {}) == {}


def test_missing_key_names_the_field():
    error = invalid(RATES, {"enterprise_rate": Decimal("80")})
    assert error.field == "measures.large_enterprise_rate"


def test_no_measures_at_all_names_the_first_field():
    error = invalid(COUNT, None)
    assert error.field == "measures.count"


def test_unknown_key_names_the_field():
    error = invalid(
        RATES, {"enterprise_rate": Decimal("80"), "large_enterprise_rate": Decimal("90"), "rat": 1}
    )
    assert error.field == "measures.rat"


def test_measures_on_a_clause_that_takes_none_are_refused():
    error = invalid(FLAG, {"rate": Decimal("50")})
    assert error.field == "measures"


@pytest.mark.parametrize("value", [-1, Decimal("-1"), "-0.5"])
def test_negative_count_is_refused(value):
    assert invalid(COUNT, {"count": value}).field == "measures.count"


def test_negative_rate_is_refused():
    error = invalid(RATES, {"enterprise_rate": Decimal("-0.1"), "large_enterprise_rate": 90})
    assert error.field == "measures.enterprise_rate"


@pytest.mark.parametrize("value", [Decimal("100.1"), 101, "100.01", 100.5])
def test_rate_above_100_is_refused(value):
    error = invalid(RATES, {"enterprise_rate": 80, "large_enterprise_rate": value})
    assert error.field == "measures.large_enterprise_rate"


def test_rate_of_exactly_100_and_0_is_accepted():
    got = check_measures(RATES, {"enterprise_rate": 0, "large_enterprise_rate": 100})
    assert got == {"enterprise_rate": Decimal("0"), "large_enterprise_rate": Decimal("100")}


@pytest.mark.parametrize("value", [Decimal("2.5"), 2.5, "0.1"])
def test_non_integer_count_is_refused(value):
    assert invalid(TIERED, {"activities": value}).field == "measures.activities"


def test_count_above_100_is_not_a_rate():
    assert check_measures(COUNT, {"count": 150}) == {"count": Decimal("150")}


@pytest.mark.parametrize(
    "value", ["abc", "", None, True, False, [1], {"v": 1}, "NaN", "Infinity", float("nan"), float("inf")]
)
def test_non_number_is_refused(value):
    assert invalid(COUNT, {"count": value}).field == "measures.count"


def test_float_79_5_becomes_exactly_decimal_79_5():
    got = check_measures(RATES, {"enterprise_rate": 79.5, "large_enterprise_rate": 0.1})
    assert got["enterprise_rate"] == Decimal("79.5")
    assert str(got["enterprise_rate"]) == "79.5"
    assert isinstance(got["enterprise_rate"], Decimal)
    # not the binary expansion of 0.1 (0.1000000000000000055511151231257827...)
    assert str(got["large_enterprise_rate"]) == "0.1"


def test_consistent_total_other_than_100_is_refused():
    doc = fresh()
    doc["total"] = Decimal("99.5")
    category(doc, "8")["points"] = Decimal("19.5")
    indicator(doc, "8.5")["points"] = Decimal("2.5")
    clause(doc, "8.5.a")["points"] = Decimal("2.5")
    message = refused(doc)
    assert "total" in message and "100" in message


def test_the_command_line_checks_a_rubric_file(tmp_path, capsys):
    from api.cli import main

    assert main(["rubric", "check", "dalian-2018"]) == 0
    out = capsys.readouterr().out
    assert "30 indicators" in out and "warning: indicator 6.1" in out and "warning: indicator 6.3" in out
    doc = fresh()
    clause(doc, "8.5.a")["kind"] = "bonus"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(doc, default=str, ensure_ascii=False), encoding="utf-8")
    assert main(["rubric", "check", str(broken)]) == 1
    assert "clause 8.5.a" in capsys.readouterr().err
