"""Bulk entry of findings with their effect (导入与预览): an indicator's filled workbook, or a page's table,
recorded in one transaction or previewed without recording anything.

The preview is the real command run and thrown away: every row goes through the same finding step
as a single finding, and each district's score before and after comes from its ledger's history
(domain.lifecycle) scored by the engine (domain.scoring). So a dry run shows exactly what the import records.
"""

from __future__ import annotations

import hashlib
from typing import Any

from api.documents.indicator_sheet import COUNT_HINT, RATE_HINT, SheetRow, build_template, cell_order, read_filled
from api.service.commands.findings import finding_row
from api.service.evidence import store_bytes
from domain.actors import Actor, require, require_responsible
from domain.errors import DomainError, InvalidInput, NotFound
from domain.evidence_types import XLSX
from domain.scoring import DistrictScore


class ImportRefused(InvalidInput):
    code = "import_refused"


EFFECT_FIELDS = ("district", "clause", "indicator", "before", "deduction", "indicator_score_before", "indicator_score")


class ImportCommands:
    def indicator_template(self, actor: Actor, *, year: int, indicator: str) -> bytes:
        """The fill-in workbook of one indicator (office, departments in scope, admin)."""
        require(actor, "record_findings")
        ind = self._template_indicator(year, indicator)
        require_responsible(actor, ind, "下载填报模板")
        y = self._year(year)
        return build_template(year=year, indicator=ind, districts=y.districts, rubric_hash=y.rubric_hash)

    def import_workbook(self, actor: Actor, *, year: int, content: bytes, dry_run: bool = False,
                        idempotency_key: str | None = None) -> dict[str, Any]:
        """A filled template → `{rows, errors}`; without `dry_run`, every row recorded in one transaction or none.

        The workbook is the findings' evidence: its sha256 is in every event's evidence list.
        """
        require(actor, "record_findings")
        y = self._year(year)
        rubric = self.rubric_of_year(year)
        sheet = read_filled(content, year=year, districts=y.districts, rubric_hash=y.rubric_hash,
                            indicators={i.id: i for i in rubric.indicators})
        if sheet.indicator and not sheet.errors:
            require_responsible(actor, rubric.indicator(sheet.indicator), "导入")
        digest = hashlib.sha256(content).hexdigest()
        proof = [f"sha256:{digest}"]
        rows = [finding_row(district=r.district, clause=r.clause, measures=r.measures or None, note=r.note,
                            evidence=proof) for r in sheet.rows]

        def build() -> tuple[list, dict]:
            kept = self._keep_workbook(actor, year, content, digest, sheet, stored=not dry_run)
            changed, effects, refused = self._findings_with_effect(actor, year, rows)
            changed = [*kept, *changed]
            errors = sorted(list(sheet.errors) + [_cell_error(rubric, sheet.rows[i], e) for i, e in refused],
                            key=lambda e: cell_order(e["cell"]))
            answer = {"year": year, "indicator": sheet.indicator, "sha256": digest, "evidence": proof[0],
                      "dry_run": dry_run, "errors": errors,
                      "rows": [_row_answer(r, e, recorded=not dry_run) for r, e in zip(sheet.rows, effects) if e]}
            if not dry_run and errors:
                raise ImportRefused(f"导入未执行：共 {len(errors)} 处错误，首个在 {errors[0]['cell']}："
                                    f"{errors[0]['message']} (nothing was recorded)", field="file",
                                    details={"errors": errors})
            if not dry_run and not rows:
                raise ImportRefused("工作簿中没有填写任何数据 (the workbook asks for nothing)", field="file")
            return changed, answer

        if dry_run:
            return self._rehearse(actor, build)
        return self._write(actor, "import_workbook", {"year": year, "sha256": digest}, build, idempotency_key,
                           hinted=False)

    def _keep_workbook(self, actor: Actor, year: int, content: bytes, digest: str, sheet: Any, *,
                       stored: bool) -> list:
        """The imported workbook becomes a 证明材料 file of every district it records for (the bytes stored once,
        an upload event on each ledger), so the `sha256:` reference in the findings names a file they hold."""
        y = self._open_year(year)
        ledgers = []
        for district in dict.fromkeys(r.district for r in sheet.rows):
            if district not in y.district_set:
                continue  # the row is refused with its cell below
            ledger = self._ledger(year, district)
            if digest not in ledger.history.files:
                if stored:
                    store_bytes(self.views, digest, content)
                ledger.upload_evidence(sha256=digest, size=len(content), media_type=XLSX,
                                       filename=f"导入-{sheet.indicator or '指标'}.xlsx", actor=actor.as_event())
                ledgers.append(ledger)
        return ledgers

    def preview_findings(self, actor: Actor, *, year: int, findings: list[dict[str, Any]]) -> dict[str, Any]:
        """What a batch of findings would deduct, row by row, recording nothing (a page's 预览 step)."""
        require(actor, "record_findings")
        rows = [finding_row(**r) for r in findings]

        def build() -> tuple[list, dict]:
            changed, effects, refused = self._findings_with_effect(actor, year, rows)
            return changed, {"rows": [{"row": i, **{k: effect[k] for k in EFFECT_FIELDS}}
                                      for i, effect in enumerate(effects) if effect],
                             "errors": [{"row": i, "field": e.field, "code": e.code, "message": e.message}
                                        for i, e in refused]}

        return self._rehearse(actor, build)

    def _findings_with_effect(self, actor: Actor, year: int, rows: list[dict[str, Any]]
                              ) -> tuple[list, list[dict[str, Any] | None], list[tuple[int, DomainError]]]:
        """Each row through the finding step; per row its clause's deduction before and after, or its refusal."""
        y = self._open_year(year)
        rubric = self.rubric_of_year(year)
        districts = [d for d in dict.fromkeys(r.get("district") for r in rows) if d in y.district_set]
        before = {d: self._ledger(year, d).history.score(rubric) for d in districts}
        changed: list = []
        answers: list[dict[str, Any] | None] = []
        refused: list[tuple[int, DomainError]] = []
        for i, row in enumerate(rows):
            try:
                aggregates, answer = self._finding_step(actor, year, row)
            except DomainError as e:
                refused.append((i, e))
                answers.append(None)
                continue
            changed.extend(aggregates)
            answers.append(answer)
        after = {d: self._ledger(year, d).history.score(rubric) for d in districts}
        effects = [None if answer is None else {**answer, **_effect(before[answer["district"]],
                                                                   after[answer["district"]], answer)}
                   for answer in answers]
        return changed, effects, refused

    def _template_indicator(self, year: int, indicator: str) -> Any:
        """The indicator a template URL names (404 when the rubric has none)."""
        try:
            return self.rubric_of_year(year).indicator(indicator)
        except KeyError:
            raise NotFound(f"考核细则中没有指标 {indicator!r} (unknown indicator)") from None


def _effect(before: DistrictScore, after: DistrictScore, answer: dict[str, Any]) -> dict[str, Any]:
    """Exact points as text (an answer may be kept as an idempotency record, and is shown rounded once)."""
    was, now = before.indicator(answer["indicator"]), after.indicator(answer["indicator"])
    clause = answer["clause"]
    return {"before": str(was.clause(clause).deduction), "deduction": str(now.clause(clause).deduction),
            "indicator_score_before": str(was.score), "indicator_score": str(now.score)}


def _row_answer(row: SheetRow, effect: dict[str, Any], *, recorded: bool) -> dict[str, Any]:
    """A sheet row's answer: the Excel row, what it records and deducts (and, once recorded, its receipt)."""
    return {"row": row.row, "measures": row.measures, **{k: effect[k] for k in EFFECT_FIELDS},
            **({"id": effect["id"], "receipt": effect["receipt"]} if recorded else {})}


def _cell_error(rubric: Any, row: SheetRow, e: DomainError) -> dict[str, str]:
    """A refused row's error at the cell it is about: `C5: 必须是 0–100 的数（…不能超过100%）`.

    The rule that refused it is the domain's (check_measures); only the wording of the hint is the sheet's.
    """
    message = _plain(e.message)
    if e.field and e.field.startswith("measures.") and rubric.has_clause(row.clause):
        key = e.field.split(".", 1)[1]
        unit = next((m.unit for m in rubric.clause(row.clause).measures if m.key == key), None)
        given = row.measures.get(key)
        if unit and given not in (None, ""):
            message = f"{RATE_HINT if unit == '%' else COUNT_HINT}（{message}）"
    return {"cell": row.cell_for(e.field), "message": message}


def _plain(message: str) -> str:
    """The Chinese part of a service message (the English gloss in brackets is for developers)."""
    cut = message.rfind(" (")
    return message[:cut] if cut > 0 and message.endswith(")") else message
