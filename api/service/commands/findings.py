"""Findings on a district's ledger (考核发现) and what follows them: retraction, dispute, resolution, sign-off."""

from __future__ import annotations

from typing import Any

from api.service.writes import strings
from domain import chained
from domain.actors import Actor, require, require_disputer, require_responsible, require_retractor
from domain.cycle import check_dispute_window
from domain.errors import InvalidInput
from domain.findings import check_measures
from domain.ledger import new_item_id


class FindingCommands:
    def record_finding(self, actor: Actor, *, year: int, district: str, clause: str,
                       occurred_on: str | None = None, measures: dict | None = None,
                       evidence: list | None = None, note: str | None = None, reference: str | None = None,
                       idempotency_key: str | None = None) -> dict[str, Any]:
        require(actor, "record_findings")
        row = finding_row(district=district, clause=clause, occurred_on=occurred_on, measures=measures,
                          evidence=evidence, note=note, reference=reference)
        return self._write(actor, "record_finding", {"year": year, **row},
                           lambda: self._finding_step(actor, year, row), idempotency_key)

    def record_findings(self, actor: Actor, *, year: int, findings: list[dict[str, Any]],
                        idempotency_key: str | None = None) -> dict[str, Any]:
        """Many findings in one transaction, all or nothing (`POST /findings/batch`)."""
        require(actor, "record_findings")
        rows = [finding_row(**r) if isinstance(r, dict) else r for r in findings] if isinstance(findings, list) \
            else findings
        return self._write_rows(actor, "record_findings", {"year": year}, "findings", rows,
                                lambda i, row: self._finding_step(actor, year, row), idempotency_key,
                                before=lambda: self._open_year(year))

    def _finding_step(self, actor: Actor, year: int, row: dict[str, Any]) -> tuple[list, dict]:
        """Record one finding on its district's ledger (the rule every single and batch call runs)."""
        y = self._open_year(year)
        rubric = self.rubric_of_year(year)
        district, clause = row.get("district"), row.get("clause")
        self._check_district(y, district)
        if not isinstance(clause, str) or not rubric.has_clause(clause):
            raise InvalidInput(f"考核细则中没有条款 {clause!r} (unknown clause)", field="clause")
        cl = rubric.clause(clause)
        indicator = rubric.indicator(cl.indicator_id)
        require_responsible(actor, indicator, "记录扣分")
        checked = check_measures(cl, row.get("measures"))
        day = self._business_date(year, row.get("occurred_on"), "occurred_on", required=cl.kind == "occurrence")
        ledger = self._ledger(year, district)
        finding_id = new_item_id(year, district)
        ledger.record_finding(
            finding_id=finding_id, clause=cl.id, indicator=indicator.id, actor=actor.as_event(),
            occurred_on=day, measures={k: str(v) for k, v in checked.items()},
            evidence=strings(row.get("evidence"), "evidence"), note=row.get("note"), reference=row.get("reference"),
        )
        return [ledger], {"id": finding_id, "district": district, "clause": cl.id, "indicator": indicator.id,
                          "receipt": ledger.receipt}

    def retract_finding(self, actor: Actor, *, year: int, finding_id: str, reason: str,
                        evidence: list | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        require(actor, "record_findings")

        def build() -> tuple[list, dict]:
            self._open_year(year)
            ledger = self._ledger_holding(year, finding_id, "扣分事项")
            require_retractor(actor, ledger.history.finding(finding_id).recorded_by)
            ledger.retract_finding(finding_id=finding_id, reason=reason, actor=actor.as_event(),
                                   evidence=strings(evidence, "evidence"))
            return [ledger], {"id": finding_id, "retracted": True, "receipt": ledger.receipt}

        return self._write(actor, "retract_finding",
                           {"year": year, "finding": finding_id, "reason": reason, "evidence": evidence},
                           build, idempotency_key)

    def file_dispute(self, actor: Actor, *, year: int, finding_id: str, statement: str,
                     evidence: list | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        require(actor, "dispute")

        def build() -> tuple[list, dict]:
            y = self._open_year(year)
            ledger = self._ledger_holding(year, finding_id, "扣分事项")
            require_disputer(actor, ledger.district)
            finding = ledger.history.check_disputable(finding_id)
            check_dispute_window(finding.recorded_at, y.dispute_days, y.publication_ends_on, chained.utcnow())
            dispute_id = new_item_id(year, ledger.district)
            ledger.file_dispute(dispute_id=dispute_id, finding_id=finding_id, statement=statement,
                                evidence=strings(evidence, "evidence"), actor=actor.as_event())
            return [ledger], {"id": dispute_id, "finding": finding_id, "district": ledger.district, "status": "open",
                              "receipt": ledger.receipt}

        return self._write(actor, "file_dispute",
                           {"year": year, "finding": finding_id, "statement": statement, "evidence": evidence},
                           build, idempotency_key)

    def resolve_dispute(self, actor: Actor, *, year: int, dispute_id: str, decision: str, reason: str,
                        evidence: list | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        require(actor, "resolve_disputes")

        def build() -> tuple[list, dict]:
            self._open_year(year)
            ledger = self._ledger_holding(year, dispute_id, "申诉")
            dispute = ledger.history.dispute(dispute_id)
            require_responsible(actor, self.rubric_of_year(year).indicator(dispute.indicator), "处理申诉")
            ledger.resolve_dispute(dispute_id=dispute_id, decision=decision, reason=reason, actor=actor.as_event(),
                                   evidence=strings(evidence, "evidence"))
            return [ledger], {"id": dispute_id, "district": ledger.district, "status": decision,
                              "receipt": ledger.receipt}

        return self._write(actor, "resolve_dispute",
                           {"year": year, "dispute": dispute_id, "decision": decision, "reason": reason,
                            "evidence": evidence},
                           build, idempotency_key)

    def sign_off(self, actor: Actor, *, year: int, district: str, indicator: str, note: str | None = None,
                 evidence: list | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        require(actor, "sign_off")
        row = {"district": district, "indicator": indicator, "note": note, "evidence": evidence}
        return self._write(actor, "sign_off", {"year": year, **row},
                           lambda: self._sign_off_step(actor, year, row), idempotency_key)

    def sign_off_many(self, actor: Actor, *, year: int, signoffs: list[dict[str, Any]],
                      idempotency_key: str | None = None) -> dict[str, Any]:
        """Many (district, indicator) sign-offs in one transaction, all or nothing (`POST /signoffs/batch`)."""
        require(actor, "sign_off")
        return self._write_rows(actor, "sign_off_many", {"year": year}, "signoffs", signoffs,
                                lambda i, row: self._sign_off_step(actor, year, row), idempotency_key,
                                before=lambda: self._open_year(year))

    def _sign_off_step(self, actor: Actor, year: int, row: dict[str, Any]) -> tuple[list, dict]:
        y = self._open_year(year)
        district, indicator = row.get("district"), row.get("indicator")
        self._check_district(y, district)
        rubric = self.rubric_of_year(year)
        try:
            ind = rubric.indicator(indicator)
        except KeyError:
            raise InvalidInput(f"考核细则中没有指标 {indicator!r} (unknown indicator)", field="indicator") from None
        require_responsible(actor, ind, "核定")
        ledger = self._ledger(year, district)
        ledger.sign_off(indicator=ind.id, actor=actor.as_event(), note=row.get("note"),
                        evidence=strings(row.get("evidence"), "evidence"))
        return [ledger], {"district": district, "indicator": ind.id, "signed_off": True, "receipt": ledger.receipt}


FINDING_FIELDS = ("district", "clause", "occurred_on", "measures", "evidence", "note", "reference")


def finding_row(**row: Any) -> dict[str, Any]:
    """A finding's input as one row: measures as text (exact, and fingerprinted as typed)."""
    measures = row.get("measures")
    if isinstance(measures, dict):
        measures = {k: v if isinstance(v, (str, bool)) or v is None else str(v) for k, v in measures.items()}
    return {**{k: row.get(k) for k in FINDING_FIELDS}, "measures": measures,
            **{k: v for k, v in row.items() if k not in FINDING_FIELDS}}
