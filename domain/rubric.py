"""The rubric (考核细则) as validated, immutable data: categories → indicators → clauses.

A rubric arrives as a parsed JSON document (numbers already Decimal); `parse_rubric`
checks it and either returns a `Rubric` or raises `RubricError` naming the place.
Reading the file is left to the caller: the domain does no I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

import orjson

CLAUSE_KINDS = (
    "flag",  # a missing item: deducts its points once
    "occurrence",  # each dated occurrence deducts `per`, up to the clause's points
    "gate",  # takes the whole indicator (8.3 未建立或未开展活动5分全扣)
    "exemption",  # the indicator or listed clauses deduct nothing (8.4 未开展试点任务不扣分)
    "tiered",  # a count earns points by tier; deduction = points − earned
    "threshold",  # a rate below the threshold loses the clause's points
    "shortfall",  # full steps of the mean value below the mean target, `per` each
    "slots",  # each missing item per slot type deducts `per`
)
MEASURED_KINDS = ("tiered", "threshold", "shortfall", "slots")
UNITS = ("%", "count")


class RubricError(ValueError):
    """A rubric document is broken; the message names the place."""


@dataclass(frozen=True)
class Measure:
    key: str
    label: str
    unit: str  # "%" or "count"
    target: Decimal | None = None  # shortfall: the value to reach
    required: Decimal | None = None  # slots: how many of this type


@dataclass(frozen=True)
class Tier:
    min: Decimal
    earn: Decimal


@dataclass(frozen=True)
class Clause:
    id: str
    indicator_id: str
    kind: str
    label: str
    text: str
    points: Decimal  # the most this clause can deduct
    per: Decimal | None = None
    step: Decimal | None = None
    threshold: Decimal | None = None
    measures: tuple[Measure, ...] = ()
    tiers: tuple[Tier, ...] = ()
    exempts: tuple[str, ...] | str | None = None  # "indicator" or clause ids
    void_when: tuple[str, ...] = ()  # deducts nothing while one of these clauses has a live finding
    triggered_by: tuple[str, ...] = ()  # gate: a live finding on one of these clauses also fires it
    note: str | None = None

    @property
    def finding_kind(self) -> str:
        """What a finding on this clause carries: a flag, a dated occurrence or measurements."""
        if self.kind in MEASURED_KINDS:
            return "measurement"
        if self.kind == "occurrence":
            return "occurrence"
        return "flag"


@dataclass(frozen=True)
class Indicator:
    id: str
    category_id: str
    name: str
    points: Decimal
    departments: tuple[str, ...]
    evidence: tuple[str, ...]
    criteria: tuple[str, ...]
    clauses: tuple[Clause, ...]
    uncounted: tuple[Mapping[str, str], ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Category:
    id: str
    name: str
    points: Decimal
    indicators: tuple[Indicator, ...]


@dataclass(frozen=True)
class Rubric:
    id: str
    title: str
    total: Decimal
    categories: tuple[Category, ...]
    content_hash: str  # SHA-256 of the canonical document; pinned to a year when it opens
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    document: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def indicators(self) -> tuple[Indicator, ...]:
        return tuple(i for c in self.categories for i in c.indicators)

    def indicator(self, indicator_id: str) -> Indicator:
        for indicator in self.indicators:
            if indicator.id == indicator_id:
                return indicator
        raise KeyError(indicator_id)

    def clause(self, clause_id: str) -> Clause:
        clause = self._clauses().get(clause_id)
        if clause is None:
            raise KeyError(clause_id)
        return clause

    def has_clause(self, clause_id: str) -> bool:
        return clause_id in self._clauses()

    def _clauses(self) -> dict[str, Clause]:
        cached = self.__dict__.get("_clause_index")
        if cached is None:
            cached = {cl.id: cl for i in self.indicators for cl in i.clauses}
            object.__setattr__(self, "_clause_index", cached)
        return cached


def content_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 over a canonical encoding (sorted keys, decimals as strings)."""
    return hashlib.sha256(canonical_json(document)).hexdigest()


def canonical_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=_canonical_default)


def _canonical_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def parse_rubric(document: Mapping[str, Any]) -> Rubric:
    """Validate a rubric document and build the `Rubric`; raise `RubricError` if broken."""
    rubric_id = _require_str(document, "id", "rubric")
    where = f"rubric {rubric_id}"
    total = _require_points(document, "total", where)
    seen: set[str] = set()
    categories = []
    warnings = []
    for c_doc in _require_list(document, "categories", where):
        category, cat_warnings = _parse_category(c_doc, seen)
        categories.append(category)
        warnings.extend(cat_warnings)
    category_sum = sum((c.points for c in categories), Decimal(0))
    if category_sum != total:
        raise RubricError(f"{where}: categories add up to {category_sum}, not the total {total}")
    if total != 100:
        raise RubricError(f"{where}: the total is {total}, not 100")
    for category in categories:
        for indicator in category.indicators:
            siblings = {cl.id for cl in indicator.clauses}
            for clause in indicator.clauses:
                refs = {
                    "exempts": clause.exempts if isinstance(clause.exempts, tuple) else (),
                    "void_when": clause.void_when,
                    "triggered_by": clause.triggered_by,
                }
                for name, targets in refs.items():
                    for target in targets:
                        if target not in siblings or target == clause.id:
                            raise RubricError(
                                f"clause {clause.id}: {name} names {target!r}, not another clause of {indicator.id}"
                            )
    return Rubric(
        id=rubric_id,
        title=str(document.get("title", rubric_id)),
        total=total,
        categories=tuple(categories),
        content_hash=content_hash(document),
        notes=tuple(document.get("notes", ())),
        warnings=tuple(warnings),
        document=document,
    )


def _parse_category(doc: Mapping[str, Any], seen: set[str]) -> tuple[Category, list[str]]:
    category_id = _require_str(doc, "id", "category")
    where = f"category {category_id}"
    _claim(category_id, seen, where)
    points = _require_points(doc, "points", where)
    indicators = []
    warnings = []
    for i_doc in _require_list(doc, "indicators", where):
        indicator, warning = _parse_indicator(i_doc, category_id, seen)
        indicators.append(indicator)
        if warning:
            warnings.append(warning)
    indicator_sum = sum((i.points for i in indicators), Decimal(0))
    if indicator_sum != points:
        raise RubricError(f"{where}: indicators add up to {indicator_sum}, not {points}")
    return (
        Category(category_id, _require_str(doc, "name", where), points, tuple(indicators)),
        warnings,
    )


def _parse_indicator(
    doc: Mapping[str, Any], category_id: str, seen: set[str]
) -> tuple[Indicator, str | None]:
    indicator_id = _require_str(doc, "id", f"category {category_id}: indicator")
    where = f"indicator {indicator_id}"
    _claim(indicator_id, seen, where)
    points = _require_points(doc, "points", where)
    departments = tuple(_require_list(doc, "departments", where))
    if not departments:
        raise RubricError(f"{where}: no responsible department (责任部门)")
    clauses = tuple(
        _parse_clause(c_doc, indicator_id, points, seen)
        for c_doc in _require_list(doc, "clauses", where)
    )
    if not clauses:
        raise RubricError(f"{where}: no clauses")
    scored = sum((c.points for c in clauses if c.kind not in ("gate", "exemption")), Decimal(0))
    warning = None
    if scored != points:
        # The seed itself has such indicators; score = max(0, points − deductions) copes,
        # so this is reported, never rescaled.
        warning = f"{where}: clauses carry {scored} points for the indicator's {points}"
    indicator = Indicator(
        id=indicator_id,
        category_id=category_id,
        name=_require_str(doc, "name", where),
        points=points,
        departments=departments,
        evidence=tuple(doc.get("evidence", ())),
        criteria=tuple(doc.get("criteria", ())),
        clauses=clauses,
        uncounted=tuple(doc.get("uncounted", ())),
        notes=tuple(doc.get("notes", ())),
    )
    return indicator, warning


def _parse_clause(
    doc: Mapping[str, Any], indicator_id: str, indicator_points: Decimal, seen: set[str]
) -> Clause:
    clause_id = _require_str(doc, "id", f"indicator {indicator_id}: clause")
    where = f"clause {clause_id}"
    _claim(clause_id, seen, where)
    kind = _require_str(doc, "kind", where)
    if kind not in CLAUSE_KINDS:
        raise RubricError(f"{where}: unknown clause kind {kind!r} (known: {', '.join(CLAUSE_KINDS)})")
    points = Decimal(0) if kind == "exemption" else _require_points(doc, "points", where)
    fields: dict[str, Any] = {}
    if kind == "occurrence":
        fields["per"] = _require_positive(doc, "per", where)
    elif kind == "gate" and points != indicator_points:
        raise RubricError(f"{where}: a gate takes the whole indicator ({indicator_points}), not {points}")
    elif kind == "exemption":
        exempts = doc.get("exempts")
        if exempts == "indicator":
            fields["exempts"] = "indicator"
        elif isinstance(exempts, list) and exempts:
            fields["exempts"] = tuple(exempts)
        else:
            raise RubricError(f"{where}: 'exempts' must be \"indicator\" or a list of clause ids")
    elif kind in MEASURED_KINDS:
        fields["measures"] = _parse_measures(doc, kind, where)
        if kind == "tiered":
            fields["tiers"] = _parse_tiers(doc, points, where)
        elif kind == "threshold":
            fields["threshold"] = _require_points(doc, "threshold", where)
        elif kind == "shortfall":
            fields["step"] = _require_positive(doc, "step", where)
            fields["per"] = _require_positive(doc, "per", where)
        elif kind == "slots":
            fields["per"] = _require_positive(doc, "per", where)
    if points > indicator_points:
        raise RubricError(f"{where}: points {points} exceed the indicator's {indicator_points}")
    for name in ("void_when", "triggered_by"):
        value = doc.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RubricError(f"{where}: '{name}' must be a list of clause ids")
        fields[name] = tuple(value)
    if fields["triggered_by"] and kind != "gate":
        raise RubricError(f"{where}: only a gate can be triggered_by other clauses")
    return Clause(
        id=clause_id,
        indicator_id=indicator_id,
        kind=kind,
        label=_require_str(doc, "label", where),
        text=_require_str(doc, "text", where),
        points=points,
        note=doc.get("note"),
        **fields,
    )


def _parse_measures(doc: Mapping[str, Any], kind: str, where: str) -> tuple[Measure, ...]:
    measures = []
    keys: set[str] = set()
    for m in _require_list(doc, "measures", where):
        key = _require_str(m, "key", f"{where}: measure")
        if key in keys:
            raise RubricError(f"{where}: duplicate measure key {key!r}")
        keys.add(key)
        unit = _require_str(m, "unit", f"{where}: measure {key}")
        if unit not in UNITS:
            raise RubricError(f"{where}: measure {key}: unit must be one of {UNITS}")
        measure = Measure(
            key=key,
            label=_require_str(m, "label", f"{where}: measure {key}"),
            unit=unit,
            target=_require_points(m, "target", f"{where}: measure {key}") if kind == "shortfall" else None,
            required=_require_points(m, "required", f"{where}: measure {key}") if kind == "slots" else None,
        )
        measures.append(measure)
    if not measures:
        raise RubricError(f"{where}: a {kind} clause needs at least one measure")
    if kind in ("tiered", "threshold") and len(measures) != 1:
        raise RubricError(f"{where}: a {kind} clause takes exactly one measure")
    return tuple(measures)


def _parse_tiers(doc: Mapping[str, Any], points: Decimal, where: str) -> tuple[Tier, ...]:
    tiers = tuple(
        Tier(_require_points(t, "min", f"{where}: tier"), _require_points(t, "earn", f"{where}: tier"))
        for t in _require_list(doc, "tiers", where)
    )
    if not tiers or min(t.min for t in tiers) != 0:
        raise RubricError(f"{where}: tiers must include one for a count of 0")
    if any(t.earn > points for t in tiers):
        raise RubricError(f"{where}: a tier earns more than the clause's {points} points")
    return tuple(sorted(tiers, key=lambda t: t.min, reverse=True))


def _claim(item_id: str, seen: set[str], where: str) -> None:
    if item_id in seen:
        raise RubricError(f"{where}: duplicate id {item_id!r}")
    seen.add(item_id)


def _require_str(doc: Mapping[str, Any], key: str, where: str) -> str:
    value = doc.get(key) if isinstance(doc, Mapping) else None
    if not isinstance(value, str) or not value.strip():
        raise RubricError(f"{where}: missing '{key}'")
    return value


def _require_list(doc: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise RubricError(f"{where}: missing '{key}' list")
    return value


def _require_points(doc: Mapping[str, Any], key: str, where: str) -> Decimal:
    value = doc.get(key)
    if isinstance(value, bool) or value is None:
        raise RubricError(f"{where}: missing '{key}'")
    if isinstance(value, float):
        raise RubricError(f"{where}: '{key}' was read as a float; parse with Decimal")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise RubricError(f"{where}: '{key}' is not a number: {value!r}") from None
    if not number.is_finite() or number < 0:
        raise RubricError(f"{where}: '{key}' must be a non-negative number, not {value!r}")
    return number


def _require_positive(doc: Mapping[str, Any], key: str, where: str) -> Decimal:
    number = _require_points(doc, key, where)
    if number <= 0:
        raise RubricError(f"{where}: '{key}' must be positive")
    return number
