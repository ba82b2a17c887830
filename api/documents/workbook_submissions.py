"""The workbook's 申报 and 证明材料 sheets: every district's submissions per indicator and its uploaded files.

Read from the same views the API answers (`district_submissions`, `evidence_files`); nothing recomputed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from api.documents.cells import write_text_cell

SHANGHAI = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
STATUS = {"waiting": "待审核", "reviewed": "已核定", "returned": "已退回"}
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
SUBMISSION_HEADERS = ["被考核单位", "指标", "申报时间", "自评说明", "证明材料", "状态", "退回理由", "是否最新"]
SUBMISSION_WIDTHS = [14, 8, 20, 40, 40, 10, 30, 9]
FILE_HEADERS = ["被考核单位", "文件名", "类型", "大小（字节）", "SHA-256", "上传时间", "上传人"]
FILE_WIDTHS = [14, 30, 24, 12, 66, 20, 18]


def add_cycle_sheets(wb: Any, cycle: dict[str, Any] | None) -> None:
    """`cycle`: {"submissions": {district: [...]}, "files": {district: [...]}} in the year's district order."""
    if not cycle:
        return
    names = {f["sha256"]: f["filename"] for files in cycle["files"].values() for f in files}
    rows = [[district, s["indicator"], _time(s["submitted_at"]), s["statement"],
             "、".join(_evidence(e, names) for e in s["evidence"]), STATUS.get(s["status"], s["status"]),
             s.get("returned_reason") or "", "否" if s["superseded"] else "是"]
            for district, items in cycle["submissions"].items() for s in items]
    _sheet(wb.create_sheet("申报"), SUBMISSION_HEADERS, SUBMISSION_WIDTHS, rows)
    files = [[district, f["filename"], f["media_type"], f["size"], f["sha256"], _time(f["uploaded_at"]),
              (f.get("actor") or {}).get("name")] for district, items in cycle["files"].items() for f in items]
    _sheet(wb.create_sheet("证明材料"), FILE_HEADERS, FILE_WIDTHS, files)


def _sheet(ws: Any, headers: list[str], widths: list[int], rows: list[list[Any]]) -> None:
    for col, header in enumerate(headers, start=1):
        cell = write_text_cell(ws, 1, col, header)
        cell.font, cell.fill = Font(bold=True), HEADER_FILL
    for r, row in enumerate(rows, start=2):
        for col, value in enumerate(row, start=1):
            text = ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value
            cell = write_text_cell(ws, r, col, text)
            if isinstance(value, datetime):
                cell.number_format = TIME_FORMAT
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"


def _evidence(entry: str, names: dict[str, str]) -> str:
    if entry.startswith("sha256:"):
        sha = entry[len("sha256:"):]
        return f"{names.get(sha, '文件')}（{sha[:12]}）"
    return entry


def _time(value: str | None) -> datetime | None:
    """A stored UTC instant as an Asia/Shanghai date-time cell (Excel cells carry no zone)."""
    return datetime.fromisoformat(value).astimezone(SHANGHAI).replace(tzinfo=None) if value else None
