"""Findings (考核发现): the facts recorded against a clause, and the checks on those facts.

A finding never carries points: it names a clause and its facts (a date, counts, rates)
and the rubric decides what they cost.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from itertools import repeat
from types import MappingProxyType
from typing import Any, Iterable, Mapping, NamedTuple

from domain.errors import InvalidInput
from domain.rubric import Clause

MAX_DECIMALS = 4
MAX_MEASURE = 10**9


class Finding(NamedTuple):
    """One recorded finding as the scoring engine sees it. Input order is history order.

    A named tuple, not a dataclass: a year-end replay builds a million of them.
    """

    id: str
    clause: str
    occurred_on: date | str | None = None  # the business date; scoring does not depend on it
    measures: Mapping[str, Decimal] = MappingProxyType({})
    indicator: str | None = None
    recorded_by: Mapping[str, str] | None = None  # the actor as written in the event (who may retract)
    recorded_at: str | None = None  # UTC ISO instant, where the reader knows it (the dispute window)


NO_MEASURES: Mapping[str, Decimal] = MappingProxyType({})
_new_tuple = tuple.__new__


def findings_columns(findings: Iterable[Finding]) -> dict[str, Any]:
    """Findings as JSON values by column (a snapshot of a long history is mostly findings): each field a list,
    decimals as text, the few actors who recorded them listed once. `findings_of_columns` reads them back equal."""
    rows = list(findings)
    actors: list[Any] = []
    seen: dict[str, int] = {}
    refs = []
    for f in rows:
        key = repr(f.recorded_by)  # equal actors as the events wrote them (JSON values) print alike
        ref = seen.get(key)
        if ref is None:
            ref = seen[key] = len(actors)
            actors.append(f.recorded_by)
        refs.append(ref)
    return {"id": [f.id for f in rows], "clause": [f.clause for f in rows],
            "occurred_on": [f.occurred_on for f in rows], "indicator": [f.indicator for f in rows],
            "recorded_at": [f.recorded_at for f in rows], "actors": actors, "recorded_by": refs,
            "measures": {str(i): {k: str(v) for k, v in f.measures.items()} for i, f in enumerate(rows) if f.measures}}


def findings_of_columns(columns: Mapping[str, Any]) -> list[Finding]:
    ids = columns["id"]
    measures: list[Mapping[str, Decimal]] = [NO_MEASURES] * len(ids)
    for i, values in columns["measures"].items():
        measures[int(i)] = {k: Decimal(v) for k, v in values.items()}  # exactly as written
    actors = columns["actors"]
    by = [actors[ref] for ref in columns["recorded_by"]]
    rows = zip(ids, columns["clause"], columns["occurred_on"], measures, columns["indicator"], by,
               columns["recorded_at"], strict=True)
    return list(map(_new_tuple, repeat(Finding), rows))


# A replay holds every live finding of every district at once: the values most findings repeat (clause,
# indicator, date, actor) are kept once each instead of once per finding (a third of the memory at 1M findings).
_SHARED: dict[Any, Any] = {}
SHARED_LIMIT = 100_000


def _shared(value: Any) -> Any:
    if value is None:
        return None
    key = tuple(value.items()) if isinstance(value, dict) else value
    try:
        return _SHARED.setdefault(key, value)
    except TypeError:  # an actor holding a list: not shared
        return value


def finding_from(data: Mapping[str, Any], recorded_at: str | None = None) -> Finding:
    """A FindingRecorded event's data (decimals as text, exactly as written) as the engine's `Finding`."""
    measures = data.get("measures")
    exact = {k: Decimal(v) for k, v in measures.items()} if measures else NO_MEASURES
    if len(_SHARED) > SHARED_LIMIT:
        _SHARED.clear()
    # tuple.__new__ skips the named tuple's Python-level __new__: a replay builds a million of these.
    return _new_tuple(Finding, (data["finding_id"], _shared(data["clause"]), _shared(data.get("occurred_on")), exact,
                                _shared(data.get("indicator")), _shared(data.get("actor")), recorded_at))


def check_measures(clause: Clause, measures: Mapping[str, Any] | None) -> dict[str, Decimal]:
    """Return the clause's measures as exact decimals, or refuse with the field named.

    Rates are percentages between 0 and 100; counts are whole numbers ≥ 0. Every key the
    clause names is required and no other key is accepted, so a typo cannot pass unnoticed.
    """
    if not clause.measures:
        if measures:
            raise InvalidInput(
                f"条款 {clause.id} 不接受数值 (clause {clause.id} takes no measures)",
                field="measures",
            )
        return {}
    measures = measures or {}
    if not isinstance(measures, Mapping):
        raise InvalidInput("measures 必须是对象 (measures must be an object)", field="measures")
    known = {m.key for m in clause.measures}
    for key in measures:
        if key not in known:
            raise InvalidInput(
                f"条款 {clause.id} 没有数值项 {key!r} (unknown measure; expected {sorted(known)})",
                field=f"measures.{key}",
            )
    checked: dict[str, Decimal] = {}
    for measure in clause.measures:
        where = f"measures.{measure.key}"
        if measure.key not in measures:
            raise InvalidInput(
                f"缺少数值项 {measure.key}（{measure.label}） (measurement missing key {measure.key!r})",
                field=where,
            )
        value = _to_decimal(measures[measure.key], where)
        if value < 0:
            raise InvalidInput(f"{measure.label} 不能为负数 (must not be negative)", field=where)
        if measure.unit == "%" and value > 100:
            raise InvalidInput(f"{measure.label} 不能超过100% (a rate cannot exceed 100)", field=where)
        if measure.unit == "count" and value != value.to_integral_value():
            raise InvalidInput(f"{measure.label} 必须是整数 (a count must be a whole number)", field=where)
        if value.as_tuple().exponent < -MAX_DECIMALS or value > MAX_MEASURE:
            # Keeps every sum in the engine exact within Decimal's 28 digits.
            raise InvalidInput(f"{measure.label} 最多 {MAX_DECIMALS} 位小数、不超过 {MAX_MEASURE} "
                               f"(at most {MAX_DECIMALS} decimals, at most {MAX_MEASURE})", field=where)
        checked[measure.key] = value
    return checked


def _to_decimal(value: Any, where: str) -> Decimal:
    # Floats are converted through their shortest repr (what the user typed in JSON),
    # never through their binary expansion: 79.5 stays 79.5.
    if isinstance(value, bool):
        raise InvalidInput(f"{where} 必须是数字 (must be a number)", field=where)
    if isinstance(value, (int, Decimal)):
        number = Decimal(value)
    elif isinstance(value, (float, str)):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise InvalidInput(f"{where} 必须是数字 (must be a number): {value!r}", field=where) from None
    else:
        raise InvalidInput(f"{where} 必须是数字 (must be a number)", field=where)
    if not number.is_finite():
        raise InvalidInput(f"{where} 必须是有限数字 (must be finite)", field=where)
    return number
