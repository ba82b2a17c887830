"""The dispute queue (申诉): open disputes per responsible department, oldest first."""

from __future__ import annotations

from typing import Callable

from domain.rubric import Rubric
from projections.catchup import Fact, dumps
from projections.store import ViewStore


class DisputeQueue:
    name = "dispute_queue"

    def __init__(self, rubric_of_year: Callable[[int], Rubric]):
        self.rubric_of_year = rubric_of_year

    def apply(self, views: ViewStore, fact: Fact) -> None:
        if fact.type == "DisputeFiled":
            finding, clause, indicator = fact.data["finding_id"], fact.data["clause"], fact.data["indicator"]
            departments = list(self.rubric_of_year(fact.year).indicator(indicator).departments)
            views.execute(
                "INSERT INTO view_disputes (dispute_id, year, district, finding_id, indicator, clause, departments, "
                "status, statement, evidence, filed_at, filed_by, position) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?) ON CONFLICT (dispute_id) DO NOTHING",
                (
                    fact.data["dispute_id"], fact.year, fact.district, finding, indicator, clause, dumps(departments),
                    fact.data["statement"], dumps(fact.data.get("evidence") or []), fact.recorded_at,
                    dumps(fact.actor), fact.position,
                ),
            )
        elif fact.type == "DisputeResolved":
            views.execute(
                "UPDATE view_disputes SET status = ?, resolved_at = ?, resolved_by = ?, reason = ? WHERE dispute_id = ?",
                (fact.data["decision"], fact.recorded_at, dumps(fact.actor), fact.data["reason"], fact.data["dispute_id"]),
            )

    def finish(self, views: ViewStore) -> None:
        pass
