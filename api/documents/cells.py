"""Cells that cannot turn into formulas (OWASP CSV/formula injection) in CSV files and openpyxl workbooks.

District names, notes and evidence references are typed by people; `=HYPERLINK(...)` must stay text.
"""

from __future__ import annotations

from typing import Any

# OWASP's list, plus the full-width forms: Excel with a Chinese/Japanese IME takes "＝1+1" as a
# formula too, and our users type Chinese.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def is_formula_like(value: Any) -> bool:
    """True for a str that a spreadsheet would read as a formula (or DDE) when typed or imported."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def safe_cell(value: Any) -> Any:
    """A CSV field: formula-like text gets a leading `'` (shown by spreadsheets, hides the formula); else unchanged."""
    # A CSV has no cell types, so the quote is the only marker a spreadsheet honours; numbers and
    # dates are not text and pass through (-2 as an int stays a number, "-2" as text is quoted).
    if is_formula_like(value):
        return "'" + value
    return value


def write_text_cell(ws: Any, row: int, col: int, value: Any) -> Any:
    """Write `value` to an openpyxl sheet; text is always a plain string cell, never a formula. Returns the cell."""
    cell = ws.cell(row=row, column=col)
    if not isinstance(value, str):
        # Numbers, Decimals, dates, None: real typed cells (the workbook stores dates as dates).
        cell.value = value
        return cell
    original = value
    # openpyxl turns any str starting with "=" into a formula cell ('f') and "#N/A" into an error
    # ('e'); forcing 's' after the assignment makes it write an inline string, which Excel and
    # LibreOffice never evaluate. The text is shown as typed, with no visible quote added.
    # A CR would be written raw and come back as LF (XML end-of-line handling, openpyxl does not
    # escape it as _x000D_); Excel breaks lines in a cell with LF anyway, so say LF explicitly.
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    cell.value = value
    cell.data_type = "s"
    if is_formula_like(original):
        # quotePrefix (the xf "'" flag) keeps it text even when someone edits the cell and presses
        # Enter, which would otherwise re-parse "=..." as a formula.
        cell.quotePrefix = True
    return cell
