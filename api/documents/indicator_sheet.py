"""An indicator's fill-in workbook (填报模板): one row per district, one column per measure of the indicator's
clauses; and reading a filled one back into rows of findings, with every problem named by its cell (C5).

Only the layout lives here. Whether a figure is acceptable and what it costs are the domain's
(domain.findings.check_measures, the scoring engine), asked by the import use case.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import column_index_from_string, coordinate_from_string
from openpyxl.worksheet.datavalidation import DataValidation

from api.documents.cells import write_text_cell
from domain.findings import MAX_MEASURE
from domain.rubric import Clause, Indicator

SHEET = "填报"
META = "kaohe"
MARK = "kaohe-indicator-template"
FIRST_ROW = 5  # rows 1–4: title, clause texts, measure labels, column keys (hidden)
KEY_ROW = 4
YES = "是"
NO = "否"
NOTE_KEY = "note"
FLAG_KEY = "flag"
MAX_BYTES = 512 * 1024  # a filled template is ~10 KB; its base64 in the preview page stays under the 1 MiB body limit
RATE_HINT = "必须是 0–100 的数"
COUNT_HINT = "必须是不小于 0 的整数"
FLAG_HINT = f"填“{YES}”表示存在此情况，否则留空或填“{NO}”"
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
BOLD = Font(bold=True)
TAKES_FINDINGS = ("flag", "gate", "exemption")  # clauses recorded by saying "yes, this is so"


def columns_of(indicator: Indicator) -> list[tuple[Clause, str | None]]:
    """The workbook's columns after the district: (clause, measure key) per measure, (clause, None) per flag.

    Dated occurrences (8.2, 8.5) are recorded on the office's pages, one date each, not in a sheet.
    """
    out: list[tuple[Clause, str | None]] = []
    for clause in indicator.clauses:
        if clause.measures:
            out.extend((clause, m.key) for m in clause.measures)
        elif clause.kind in TAKES_FINDINGS:
            out.append((clause, None))
    return out


def measure_label(clause: Clause, key: str | None) -> str:
    """What a column header says under the clause text: the measure, its unit and its target."""
    if key is None:
        return f"{FLAG_HINT}（{clause.label}，扣 {clause.points} 分）"
    m = next(m for m in clause.measures if m.key == key)
    if m.unit == "%":
        goal = f"，目标 {m.target}%" if m.target is not None else (
            f"，达标线 {clause.threshold}%" if clause.threshold is not None else "")
        return f"{m.label}（百分数，填 80 表示 80%{goal}）"
    goal = f"，要求 {m.required} 个" if m.required is not None else (
        f"，目标 {m.target}" if m.target is not None else "")
    return f"{m.label}（个数{goal}）"


def build_template(*, year: int, indicator: Indicator, districts: list[str], rubric_hash: str) -> bytes:
    """The workbook a department fills for one indicator (districts in the year's order)."""
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    cols = columns_of(indicator)
    title = (f"{year}年度 指标 {indicator.id} {indicator.name}（{indicator.points} 分）"
             f" 责任部门：{'、'.join(indicator.departments)}")
    if any(c.kind == "occurrence" for c in indicator.clauses):
        title += "；按次扣分的条款请在会议、报送、任务页面逐次登记"
    write_text_cell(ws, 1, 1, title).font = Font(bold=True, size=13)
    ws["A2"], ws["A3"], ws[f"A{KEY_ROW}"] = "条款", "数值项（单位、目标）", "key"
    for n, (clause, key) in enumerate(cols, start=2):
        write_text_cell(ws, 2, n, f"{clause.id} {clause.text}")
        write_text_cell(ws, 3, n, measure_label(clause, key))
        ws.cell(row=KEY_ROW, column=n, value=f"{clause.id}:{key or FLAG_KEY}")
    note_col = len(cols) + 2
    ws.cell(row=2, column=note_col, value="情况说明（可选）")
    ws.cell(row=3, column=note_col, value="记入本行每条扣分事项")
    ws.cell(row=KEY_ROW, column=note_col, value=NOTE_KEY)
    _merge_clause_headers(ws, cols)
    for r in (2, 3):
        for cell in ws[r]:
            cell.font, cell.fill = BOLD, HEADER_FILL
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.cell(row=2, column=1).value = "被考核单位"
    ws.row_dimensions[2].height = 90
    ws.row_dimensions[3].height = 60
    ws.row_dimensions[KEY_ROW].hidden = True
    end = FIRST_ROW + len(districts) - 1
    for i, district in enumerate(districts):
        write_text_cell(ws, FIRST_ROW + i, 1, district).font = BOLD
    _validations(ws, cols, end)
    for n in range(2, note_col + 1):
        ws.column_dimensions[get_column_letter(n)].width = 22
    ws.column_dimensions["A"].width = 14
    ws.freeze_panes = f"B{FIRST_ROW}"
    ws.print_title_rows = "2:3"
    meta = wb.create_sheet(META)
    for row in ((MARK, 1), ("year", year), ("indicator", indicator.id), ("rubric_hash", rubric_hash),
                ("districts", len(districts))):
        meta.append(list(row))
    meta.sheet_state = "hidden"
    meta.protection.sheet = True
    for row in ws.iter_rows(min_row=1, max_row=KEY_ROW):
        for cell in row:
            cell.protection = Protection(locked=True)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _merge_clause_headers(ws: Any, cols: list[tuple[Clause, str | None]]) -> None:
    start = 0
    for n in range(1, len(cols) + 1):
        if n == len(cols) or cols[n][0].id != cols[start][0].id:
            if n - start > 1:
                ws.merge_cells(start_row=2, start_column=start + 2, end_row=2, end_column=n + 1)
            start = n


def _validations(ws: Any, cols: list[tuple[Clause, str | None]], end: int) -> None:
    """Excel refuses a figure out of range as it is typed; the import checks again (a sheet can be edited)."""
    if end < FIRST_ROW:
        return
    rate = DataValidation(type="decimal", operator="between", formula1="0", formula2="100", allow_blank=True,
                          showErrorMessage=True, errorTitle="数值超出范围", error=RATE_HINT)
    count = DataValidation(type="whole", operator="between", formula1="0", formula2=str(MAX_MEASURE),
                           allow_blank=True, showErrorMessage=True, errorTitle="数值无效", error=COUNT_HINT)
    flag = DataValidation(type="list", formula1=f'"{YES},{NO}"', allow_blank=True, showErrorMessage=True,
                          errorTitle="请选择", error=FLAG_HINT)
    for n, (clause, key) in enumerate(cols, start=2):
        letter = get_column_letter(n)
        target = flag if key is None else (
            rate if next(m for m in clause.measures if m.key == key).unit == "%" else count)
        target.add(f"{letter}{FIRST_ROW}:{letter}{end}")
    for dv in (rate, count, flag):
        if dv.sqref:
            ws.add_data_validation(dv)


# --- reading a filled workbook back ---------------------------------------------------------

@dataclass
class SheetRow:
    """One finding the sheet asks for: a district's clause, its figures as typed, and their cells."""

    row: int  # the Excel row number
    district: str
    clause: str
    measures: dict[str, str]
    note: str | None
    cells: dict[str, str]  # measure key (or "flag") → cell reference

    def cell_for(self, field_name: str | None) -> str:
        """The cell an error of the finding's input (`measures.rate`) is about; the district's cell otherwise."""
        if field_name and field_name.startswith("measures."):
            return self.cells.get(field_name.split(".", 1)[1], f"A{self.row}")
        if field_name == "note" and NOTE_KEY in self.cells:
            return self.cells[NOTE_KEY]
        return next(iter(self.cells.values()), f"A{self.row}") if field_name == "measures" else f"A{self.row}"


@dataclass
class FilledSheet:
    indicator: str | None
    rows: list[SheetRow] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    def error(self, cell: str, message: str) -> None:
        self.errors.append({"cell": cell, "message": message})


def read_filled(content: bytes, *, year: int, districts: list[str], rubric_hash: str,
                indicators: dict[str, Indicator]) -> FilledSheet:
    """A filled template → the findings it asks for and the problems of its layout, each with its cell."""
    if len(content) > MAX_BYTES:
        too_large = f"文件过大（不超过 {MAX_BYTES // 1024} KB）"
        return FilledSheet(None, errors=[{"cell": "A1", "message": too_large}])
    try:
        wb = load_workbook(io.BytesIO(content), data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError):
        return FilledSheet(None, errors=[{"cell": "A1", "message": "不是有效的 xlsx 工作簿，请使用下载的模板"}])
    if META not in wb.sheetnames or SHEET not in wb.sheetnames:
        return FilledSheet(None, errors=[{"cell": "A1", "message": "不是本系统的填报模板，请先下载指标模板再填写"}])
    meta = {str(r[0]): r[1] for r in wb[META].iter_rows(values_only=True) if r and r[0] is not None}
    indicator_id = str(meta.get("indicator") or "")
    sheet = FilledSheet(indicator_id or None)
    if meta.get(MARK) is None or indicator_id not in indicators:
        sheet.error("A1", "模板缺少指标信息，请重新下载模板")
        return sheet
    if str(meta.get("year")) != str(year):
        sheet.error("A1", f"这是 {meta.get('year')} 年度的模板，不能导入 {year} 年度")
        return sheet
    if meta.get("rubric_hash") != rubric_hash:
        sheet.error("A1", "模板所依据的考核细则与本年度不一致，请重新下载模板")
        return sheet
    ws = wb[SHEET]
    wanted = {f"{c.id}:{k or FLAG_KEY}": (c, k) for c, k in columns_of(indicators[indicator_id])}
    layout: dict[int, tuple[Clause, str | None] | str] = {}
    for cell in ws[KEY_ROW][1:]:
        if cell.value in wanted:
            layout[cell.column] = wanted[cell.value]
        elif cell.value == NOTE_KEY:
            layout[cell.column] = NOTE_KEY
    if len([v for v in layout.values() if v != NOTE_KEY]) != len(wanted):
        sheet.error(f"A{KEY_ROW}", "模板的列被改动过，请重新下载模板")
        return sheet
    seen: dict[str, int] = {}
    for cells in ws.iter_rows(min_row=FIRST_ROW):
        _read_row(sheet, cells, layout, districts, seen)
    return sheet


def _read_row(sheet: FilledSheet, cells: tuple, layout: dict, districts: list[str], seen: dict[str, int]) -> None:
    if not cells:
        return
    r = cells[0].row
    values = {c.column: c for c in cells if c.column in layout and _typed(c.value)}
    name = cells[0].value
    if not values:
        return  # nothing asked for this district (or an empty line)
    district = str(name).strip() if name is not None else ""
    if district not in districts:
        sheet.error(f"A{r}", f"本年度没有被考核单位“{district}”" if district else "缺少被考核单位名称")
        return
    if district in seen:
        sheet.error(f"A{r}", f"{district} 已在第 {seen[district]} 行填写")
        return
    seen[district] = r
    note_cell = next((c for col, c in values.items() if layout[col] == NOTE_KEY), None)
    note = str(note_cell.value).strip() if note_cell is not None else None
    by_clause: dict[str, SheetRow] = {}
    for col, cell in sorted(values.items()):
        spec = layout[col]
        if spec == NOTE_KEY:
            continue
        clause, key = spec
        if key is None:
            answer = str(cell.value).strip()
            if answer == NO:
                continue
            if answer != YES:
                sheet.error(cell.coordinate, FLAG_HINT)
                continue
            sheet.rows.append(SheetRow(r, district, clause.id, {}, note, {FLAG_KEY: cell.coordinate,
                                       **({NOTE_KEY: note_cell.coordinate} if note_cell is not None else {})}))
            continue
        entry = by_clause.get(clause.id)
        if entry is None:
            entry = by_clause[clause.id] = SheetRow(r, district, clause.id, {}, note, {
                m.key: f"{get_column_letter(c)}{r}" for c, s in layout.items() if s != NOTE_KEY and s[0].id == clause.id
                for m in clause.measures if m.key == s[1]})
            if note_cell is not None:
                entry.cells[NOTE_KEY] = note_cell.coordinate
            sheet.rows.append(entry)
        entry.measures[key] = _figure(cell)


def cell_order(ref: str) -> tuple[int, int]:
    """A cell reference's place in reading order (row, then column): C5 before B7."""
    column, row = coordinate_from_string(ref)
    return row, column_index_from_string(column)


def _typed(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _figure(cell: Any) -> str:
    """A cell's figure as text, exactly as typed: 79.5 stays 79.5; a cell formatted as 80% means 80."""
    value = cell.value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        text = repr(value) if isinstance(value, float) else str(value)
        if "%" in str(cell.number_format or ""):
            try:
                return str((Decimal(text) * 100).normalize())
            except InvalidOperation:
                return text
        return text
    return str(value).strip().rstrip("%").strip() if isinstance(value, str) else str(value)
