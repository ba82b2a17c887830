"""The Excel workbook (考核结果.xlsx): a 汇总 sheet with the ranking and one 扣分明细 sheet per district.

Every number comes from the same projection the API shows (`scores`, `district_score`);
nothing is recomputed here. Numbers are written as numbers (exact decimals), shown with
two decimals.
"""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

SUMMARY = "汇总"
TWO_DECIMALS = "0.00"
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
BOLD = Font(bold=True)
DETAIL_HEADERS = ["指标", "指标名称", "分值", "得分", "扣分", "条款", "扣分事项", "条款扣分",
                  "发现日期", "记录时间", "记录人", "情况说明", "证明材料", "申诉结果"]
DETAIL_WIDTHS = [7, 26, 7, 7, 7, 8, 34, 9, 12, 20, 18, 30, 24, 22]
ACTIVITY_LABELS = {"upheld": "申诉维持", "overturned": "申诉撤销扣分", "open": "申诉处理中"}


def build_workbook(ranking: dict[str, Any], breakdowns: list[dict[str, Any]], rubric: Any) -> bytes:
    """`ranking` is `scores()`, `breakdowns` are `district_score()` results, best first."""
    wb = Workbook()
    summary = wb.active
    summary.title = SUMMARY
    _summary_sheet(summary, ranking, rubric)
    used = {SUMMARY}
    for result in breakdowns:
        _district_sheet(wb.create_sheet(_sheet_name(result["district"], used)), result, ranking)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _summary_sheet(ws: Any, ranking: dict[str, Any], rubric: Any) -> None:
    state = "最终成绩" if ranking["final"] else "当前成绩（考核尚未结束）"
    _append(ws, [f"{ranking['year']}年度实绩考核 {state}"])
    ws["A1"].font = Font(bold=True, size=14)
    _append(ws, [f"考核细则：{rubric.title}（{rubric.id}）"])
    headers = ["排名", "被考核单位", "总分"] + [f"{c.id} {c.name}（{c.points}）" for c in rubric.categories] + ["已核定指标"]
    _append(ws, headers)
    header_row = ws.max_row
    for cell in ws[header_row]:
        cell.font, cell.fill = BOLD, HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
    for row in ranking["districts"]:
        _append(ws, [row["rank"], row["district"], row["total"]]
                  + [row["categories"][c.id] for c in rubric.categories]
                  + [f"{row['signed_off']}/{ranking['indicators']}"])
        for cell in ws[ws.max_row][2:2 + 1 + len(rubric.categories)]:
            cell.number_format = TWO_DECIMALS
    _append(ws, [])
    _append(ws, ["历史摘要（digest）", ranking.get("digest") or "考核结束后生成 (available once the year is closed)"])
    ws.column_dimensions["A"].width = 8
    ws.column_dimensions["B"].width = 16
    ws.column_dimensions["C"].width = 10
    for i in range(len(rubric.categories) + 1):
        ws.column_dimensions[get_column_letter(4 + i)].width = 14
    ws.row_dimensions[header_row].height = 45
    ws.freeze_panes = ws.cell(row=header_row + 1, column=3)


def _district_sheet(ws: Any, result: dict[str, Any], ranking: dict[str, Any]) -> None:
    _append(ws, [f"{result['district']} 扣分明细", None, "总分", Decimal(result["total"])])
    ws["A1"].font = Font(bold=True, size=13)
    ws["D1"].number_format = TWO_DECIMALS
    _append(ws, DETAIL_HEADERS)
    for cell in ws[2]:
        cell.font, cell.fill = BOLD, HEADER_FILL
    for category in result["categories"]:
        for indicator in category["indicators"]:
            _append(ws, [indicator["id"], indicator["name"], Decimal(indicator["points"]), Decimal(indicator["score"]),
                       Decimal(indicator["deduction"])])
            _numbers(ws, 3, 5)
            for clause in indicator["clauses"]:
                deduction = Decimal(clause["deduction"])
                if not clause["findings"] and not deduction:
                    continue
                if not clause["findings"]:
                    _append(ws, [None] * 5 + [clause["id"], clause["label"], deduction])
                    _numbers(ws, 8, 8)
                for finding in clause["findings"]:
                    _append(ws, [None] * 5 + [clause["id"], clause["label"], deduction if finding["counted"] else Decimal(0),
                               finding.get("occurred_on"), (finding.get("recorded_at") or "")[:19].replace("T", " "),
                               (finding.get("actor") or {}).get("name"), _what(finding),
                               "、".join(finding.get("evidence") or []), _dispute(finding)])
                    _numbers(ws, 8, 8)
    _append(ws, [])
    _append(ws, ["历史摘要（digest）", ranking.get("digest") or "考核结束后生成"])
    for i, width in enumerate(DETAIL_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A3"


def _append(ws: Any, row: list[Any]) -> None:
    """Append a row, its text as Excel accepts it (history may predate the input checks; openpyxl refuses controls)."""
    ws.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in row])


def _numbers(ws: Any, first: int, last: int) -> None:
    for cell in ws[ws.max_row][first - 1:last]:
        if cell.value is not None:
            cell.number_format = TWO_DECIMALS


def _what(finding: dict[str, Any]) -> str:
    parts = []
    if finding.get("note"):
        parts.append(str(finding["note"]))
    if finding.get("measures"):
        parts.append("；".join(f"{k}={v}" for k, v in finding["measures"].items()))
    if finding.get("source"):
        parts.append(f"来源：{finding['source'].get('title', '')}")
    return "；".join(parts)


def _dispute(finding: dict[str, Any]) -> str:
    dispute = finding.get("dispute")
    if not dispute:
        return ""
    label = ACTIVITY_LABELS.get(dispute.get("status"), dispute.get("status", ""))
    return f"{label}：{dispute['reason']}" if dispute.get("reason") else label


def _sheet_name(district: str, used: set[str]) -> str:
    name = re.sub(r"[\[\]:*?/\\]", "_", district)[:31] or "单位"
    base, n = name, 2
    while name in used:
        name = f"{base[:28]}({n})"
        n += 1
    used.add(name)
    return name
