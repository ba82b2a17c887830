"""The assessment cycle's commands: a district's 申报 and its return, 公示, and adding a rubric as data."""

from __future__ import annotations

from typing import Any

from eventsourcing.application import AggregateNotFoundError

from api.service.rubric_files import available_rubrics, parse_rubric_text
from api.service.writes import strings
from domain import chained
from domain.actors import Actor, require, require_responsible, require_submitter
from domain.errors import Conflict, InvalidInput
from domain.ledger import new_item_id
from domain.rubric import RubricError
from domain.rubric_file import RubricFile, rubric_file_id


class CycleCommands:
    def submit_materials(self, actor: Actor, *, year: int, district: str, indicator: str, statement: str,
                         evidence: list | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        """申报: the district's account of an indicator (自评说明) with its 证明材料; newer ones supersede older."""
        require_submitter(actor, district)

        def build() -> tuple[list, dict]:
            y = self._open_year(year)
            y.check_district(district)
            ind = self._indicator(year, indicator)
            ledger = self._ledger(year, district)
            submission_id = new_item_id(year, district)
            ledger.submit_materials(submission_id=submission_id, indicator=ind.id, statement=statement,
                                    evidence=strings(evidence, "evidence"), actor=actor.as_event())
            return [ledger], {"id": submission_id, "district": district, "indicator": ind.id, "status": "waiting",
                              "receipt": ledger.receipt}

        return self._write(actor, "submit_materials", {"year": year, "district": district, "indicator": indicator,
                                                       "statement": statement, "evidence": evidence},
                           build, idempotency_key)

    def return_submission(self, actor: Actor, *, year: int, submission_id: str, reason: str,
                          evidence: list | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        """Send a 申报 back for more material (the responsible department); the district sees why."""
        require(actor, "review_submissions")

        def build() -> tuple[list, dict]:
            self._open_year(year)
            ledger = self._ledger_holding(year, submission_id, "申报")
            submission = ledger.history.submission(submission_id)
            require_responsible(actor, self.rubric_of_year(year).indicator(submission.indicator), "退回申报")
            ledger.return_submission(submission_id=submission_id, reason=reason, actor=actor.as_event(),
                                     evidence=strings(evidence, "evidence"))
            return [ledger], {"id": submission_id, "district": ledger.district, "indicator": submission.indicator,
                              "status": "returned", "receipt": ledger.receipt}

        return self._write(actor, "return_submission", {"year": year, "submission": submission_id, "reason": reason,
                                                        "evidence": evidence}, build, idempotency_key)

    def publish(self, actor: Actor, *, year: int, days: int, note: str | None = None,
                idempotency_key: str | None = None) -> dict[str, Any]:
        """公示: publish the provisional results from today for `days` working days."""
        require(actor, "publish")

        def build() -> tuple[list, dict]:
            y = self._open_year(year)
            y.publish(days=days, now=chained.utcnow(), actor=actor.as_event(), note=note)
            return [y], {"year": year, **y.publication, "stage": "publication", "receipt": y.receipt}

        return self._write(actor, "publish", {"year": year, "days": days, "note": note}, build, idempotency_key)

    def add_rubric(self, actor: Actor, *, text: str, idempotency_key: str | None = None) -> dict[str, Any]:
        """Store a rubric document as data, after the same checks as `kaohe rubric check`; 201, or 200 if known."""
        require(actor, "add_rubrics")
        try:
            rubric = parse_rubric_text(text)
        except RubricError as e:
            raise InvalidInput(f"考核细则无效：{e} (rubric refused)", field="rubric") from None
        if rubric.id in available_rubrics():
            raise Conflict(f"{rubric.id} 是系统自带的考核细则，请使用新的 id (a shipped rubric has this id)",
                           field="rubric")

        def build() -> tuple[list, dict]:
            try:
                existing = self._get(rubric_file_id(rubric.id))
            except AggregateNotFoundError:
                existing = None
            if existing is not None:
                existing.check_same(rubric)
            added = [] if existing is not None else [RubricFile.add(rubric=rubric, text=text, actor=actor.as_event())]
            return added, {"id": rubric.id, "title": rubric.title, "content_hash": rubric.content_hash,
                           "warnings": list(rubric.warnings), "created": existing is None}

        return self._write(actor, "add_rubric", {"rubric": rubric.id, "content_hash": rubric.content_hash},
                           build, idempotency_key)

    def _indicator(self, year: int, indicator: str) -> Any:
        try:
            return self.rubric_of_year(year).indicator(indicator)
        except KeyError:
            raise InvalidInput(f"考核细则中没有指标 {indicator!r} (unknown indicator)", field="indicator") from None
