"""Reads rubric documents shipped in `domain/rubrics/` (one JSON file per rubric id)."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path

from domain.rubric import Rubric, RubricError, parse_rubric


def available_rubrics() -> list[str]:
    folder = resources.files("domain.rubrics")
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


@lru_cache(maxsize=None)
def load_rubric(rubric_id: str) -> Rubric:
    """Load and validate a shipped rubric; `RubricError` if unknown or broken."""
    if rubric_id not in available_rubrics():
        raise RubricError(f"没有名为 {rubric_id} 的考核细则，现有：{'、'.join(available_rubrics())} "
                          f"(unknown rubric {rubric_id!r}; available: {', '.join(available_rubrics())})")
    text = resources.files("domain.rubrics").joinpath(f"{rubric_id}.json").read_text("utf-8")
    return parse_rubric_text(text)


def load_rubric_file(path: str | Path) -> Rubric:
    return parse_rubric_text(Path(path).read_text("utf-8"))


def parse_rubric_text(text: str) -> Rubric:
    try:
        # Decimal for every number: a rubric's points must never pass through a float.
        document = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except json.JSONDecodeError as e:
        raise RubricError(f"not valid JSON: {e}") from None
    return parse_rubric(document)
