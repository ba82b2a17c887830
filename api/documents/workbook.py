"""The Excel workbook (考核结果.xlsx): a 汇总 sheet with the ranking and one 扣分明细 sheet per district.

Every number comes from the same projection the API shows (`scores`, `district_score`);
nothing is recomputed here. Numbers are written as numbers (exact decimals), shown with
two decimals; dates and times are real date cells, times in Asia/Shanghai; every text cell
goes through `write_text_cell`, so nothing typed by a person becomes a formula. Each sheet
prints on A4 landscape, fitted to the page width, with its header rows repeated.
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from api.documents.cells import write_text_cell
from api.documents.workbook_submissions import add_cycle_sheets
from domain.wording import finding_facts, join

SHANGHAI = ZoneInfo("Asia/Shanghai")
SUMMARY = "汇总"
TWO_DECIMALS = "0.00"
DATE_FORMAT = "yyyy-mm-dd"
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
BOLD = Font(bold=True)
DETAIL_HEADERS = ["指标", "指标名称", "分值", "得分", "扣分", "条款", "扣分事项", "条款扣分",
                  "发生日期", "记录时间", "记录人", "情况说明", "证明材料", "申诉结果"]
DETAIL_WIDTHS = [7, 26, 7, 7, 7, 8, 34, 9, 12, 20, 18, 30, 24, 22]
ACTIVITY_LABELS = {"upheld": "申诉维持", "overturned": "申诉撤销扣分", "open": "申诉处理中"}
STATUS_LABELS = {"retracted": "已撤销", "overturned": "申诉后撤销"}


def build_workbook(ranking: dict[str, Any], breakdowns: list[dict[str, Any]], rubric: Any,
                   checkpoint: dict[str, Any] | None = None, cycle: dict[str, Any] | None = None) -> bytes:
    """`ranking` is `scores()`, `breakdowns` are `district_score()` results, both best first with ties
    in the official order; `checkpoint` the log checkpoint (or history digest) the figures come from;
    `cycle` the 申报 and 证明材料 (api.documents.workbook_submissions)."""
    wb = Workbook()
    summary = wb.active
    summary.title = SUMMARY
    _summary_sheet(summary, ranking, rubric, checkpoint)
    used = {SUMMARY}
    for result in breakdowns:
        _district_sheet(wb.create_sheet(_sheet_name(result["district"], used)), result, rubric, checkpoint)
    add_cycle_sheets(wb, cycle)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _summary_sheet(ws: Any, ranking: dict[str, Any], rubric: Any, checkpoint: dict[str, Any] | None) -> None:
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
    for row in ranking["districts"]:  # rank order; equal totals in the year's official order
        _append(ws, [row["rank"], row["district"], row["total"]]
                  + [row["categories"][c.id] for c in rubric.categories]
                  + [f"{row['signed_off']}/{ranking['indicators']}"])
        for cell in ws[ws.max_row][2:2 + 1 + len(rubric.categories)]:
            cell.number_format = TWO_DECIMALS
    _append(ws, [])
    _checkpoint_rows(ws, checkpoint, ranking.get("digest"))
    ws.column_dimensions["A"].width = 8
    ws.column_dimensions["B"].width = 24
    ws.column_dimensions["C"].width = 10
    for i in range(len(rubric.categories) + 1):
        ws.column_dimensions[get_column_letter(4 + i)].width = 14
    ws.row_dimensions[header_row].height = 45
    ws.freeze_panes = ws.cell(row=header_row + 1, column=3)
    _print_setup(ws, header_row)


def _checkpoint_rows(ws: Any, checkpoint: dict[str, Any] | None, digest: str | None) -> None:
    """Where the figures come from: the log checkpoint (size, root) or, until the log exists, the history digest."""
    if checkpoint and checkpoint.get("kind") == "log":
        _append(ws, ["日志检查点", f"日志大小 {checkpoint['size']}"])
        _append(ws, ["根哈希", checkpoint["root"]])
    elif checkpoint:
        final = "（年度结束时）" if checkpoint.get("final") else "（当前）"
        _append(ws, [f"历史摘要{final}", f"事件数 {checkpoint['size']}"])
        _append(ws, ["摘要（SHA-256）", checkpoint["root"]])
    else:
        _append(ws, ["历史摘要（digest）", digest or "考核结束后生成"])


def _district_sheet(ws: Any, result: dict[str, Any], rubric: Any, checkpoint: dict[str, Any] | None) -> None:
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
                definitions = rubric.clause(clause["id"]).measures
                for finding in clause["findings"]:
                    _append(ws, [None] * 5 + [clause["id"], clause["label"], deduction if finding["counted"] else Decimal(0),
                               _date(finding.get("occurred_on")), shanghai_time(finding.get("recorded_at")),
                               (finding.get("actor") or {}).get("name"), _what(finding, definitions),
                               "、".join(finding.get("evidence") or []), _dispute(finding)])
                    _numbers(ws, 8, 8)
                    ws.cell(row=ws.max_row, column=9).number_format = DATE_FORMAT
                    ws.cell(row=ws.max_row, column=10).number_format = TIME_FORMAT
    _append(ws, [])
    _checkpoint_rows(ws, checkpoint, None)
    for i, width in enumerate(DETAIL_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A3"
    _print_setup(ws, 2)


def _print_setup(ws: Any, last_header_row: int) -> None:
    """A4 landscape, every column on the page width, the header rows again on every page."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as it takes
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"1:{last_header_row}"
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"


def shanghai_time(value: str | None) -> datetime | None:
    """A stored UTC instant → the Asia/Shanghai wall-clock time as a datetime cell (Excel has no zones)."""
    if not value:
        return None
    return datetime.fromisoformat(value).astimezone(SHANGHAI).replace(tzinfo=None, microsecond=0)


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _append(ws: Any, row: list[Any]) -> None:
    """Append a row: every text cell written as text (never a formula), as Excel accepts it
    (history may predate the input checks; openpyxl refuses control characters)."""
    at = ws.max_row + 1 if ws.max_row > 1 or ws.cell(row=1, column=1).value is not None else 1
    if not row:
        ws.cell(row=at, column=1)  # a blank line
        return
    for col, value in enumerate(row, start=1):
        write_text_cell(ws, at, col, ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value)


def _numbers(ws: Any, first: int, last: int) -> None:
    for cell in ws[ws.max_row][first - 1:last]:
        if cell.value is not None:
            cell.number_format = TWO_DECIMALS


def _what(finding: dict[str, Any], definitions: Any) -> str:
    """The note and the measures (labelled), where it came from and, if taken back, that it was."""
    facts = finding_facts({**finding, "occurred_on": None}, definitions)
    source = (finding.get("source") or {}).get("title")
    status = STATUS_LABELS.get(finding.get("status") or "")
    return join([facts, f"来源：{source}" if source else None, status])


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
