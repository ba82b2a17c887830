"""Rubric documents: those shipped in `domain/rubrics/` (one JSON file per rubric id) and those added as data.

An added rubric lives in the event store (domain.rubric_file.RubricFile); `load_rubric` finds it
through the `stored` callable the service hands in (id → document text, or None).
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable

from domain.rubric import Rubric, RubricError, parse_rubric

StoredRubrics = Callable[[str], str | None]  # rubric id → its stored document text, or None


def available_rubrics() -> list[str]:
    """The ids of the rubrics shipped with kaohe."""
    folder = resources.files("domain.rubrics")
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


def load_rubric(rubric_id: str, *, stored: StoredRubrics | None = None) -> Rubric:
    """A shipped rubric, else an added one; `RubricError` if unknown or broken. A year's pinned
    content hash is checked by the caller (it says which year)."""
    if rubric_id in available_rubrics():
        return _shipped(rubric_id)
    text = stored(rubric_id) if stored is not None else None
    if text is None:
        raise RubricError(f"没有名为 {rubric_id} 的考核细则，现有：{'、'.join(available_rubrics())} "
                          f"(unknown rubric {rubric_id!r}; available: {', '.join(available_rubrics())}, "
                          "or one added with `kaohe rubric add`)")
    return _parsed(text)


@lru_cache(maxsize=None)
def _shipped(rubric_id: str) -> Rubric:
    text = resources.files("domain.rubrics").joinpath(f"{rubric_id}.json").read_text("utf-8")
    return parse_rubric_text(text)


@lru_cache(maxsize=64)
def _parsed(text: str) -> Rubric:
    return parse_rubric_text(text)


def load_rubric_file(path: str | Path) -> Rubric:
    return parse_rubric_text(Path(path).read_text("utf-8"))


def parse_rubric_text(text: str) -> Rubric:
    try:
        # Decimal for every number: a rubric's points must never pass through a float.
        document = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except json.JSONDecodeError as e:
        raise RubricError(f"not valid JSON: {e}") from None
    if not isinstance(document, dict):
        raise RubricError("a rubric is a JSON object")
    return parse_rubric(document)
