"""Formula injection: text that looks like a formula stays text in CSV and in openpyxl workbooks."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import date
from decimal import Decimal

import openpyxl
import pytest

from api.documents.cells import safe_cell, write_text_cell

DANGEROUS = ['=HYPERLINK("http://evil.example/","证明材料")', "+1", "-2", "@SUM(A1)", "\t=1", "\r=1", "＝1+1", "=1+1"]
HARMLESS = ["朝阳区", "开展活动 1 项", "a=b", "", "#N/A", "'already quoted"]


def test_safe_cell_quotes_formula_like_text_only():
    for value in DANGEROUS:
        assert safe_cell(value) == "'" + value
    for value in HARMLESS:
        assert safe_cell(value) == value
    for value in (1, -2, Decimal("-2.50"), 3.5, None, date(2024, 1, 2), True):
        assert safe_cell(value) == value


def test_csv_round_trip_keeps_the_quote():
    out = io.StringIO()
    writer = csv.writer(out)
    for value in DANGEROUS + HARMLESS:
        writer.writerow([safe_cell(value), safe_cell(7)])
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert [r[0] for r in rows] == ["'" + v for v in DANGEROUS] + HARMLESS
    assert all(r[1] == "7" for r in rows)


def build_workbook(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    values = DANGEROUS + HARMLESS
    for i, value in enumerate(values, start=1):
        write_text_cell(ws, i, 1, value)
    write_text_cell(ws, 1, 2, 42)
    write_text_cell(ws, 2, 2, Decimal("12.5"))
    write_text_cell(ws, 3, 2, date(2024, 5, 6))
    path = tmp_path / "cells.xlsx"
    wb.save(path)
    return path, values


def test_workbook_cells_are_strings_not_formulas(tmp_path):
    path, values = build_workbook(tmp_path)
    ws = openpyxl.load_workbook(path).active
    for row in ws.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.coordinate
    for i, value in enumerate(values, start=1):
        cell = ws.cell(row=i, column=1)
        if value == "":
            assert cell.value is None  # openpyxl reads an empty inline string as an empty cell
            continue
        assert cell.data_type == "s", (cell.coordinate, value)
        # CR is written as LF on purpose (see write_text_cell); everything else is exact.
        assert cell.value == value.replace("\r", "\n")
        assert cell.quotePrefix == (value in DANGEROUS)
    assert ws["B1"].value == 42 and ws["B1"].data_type == "n"
    assert ws["B2"].value == 12.5
    assert ws["B3"].is_date


def test_workbook_xml_has_no_formula_element(tmp_path):
    import zipfile

    path, _ = build_workbook(tmp_path)
    with zipfile.ZipFile(path) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<f " not in sheet
    assert 'HYPERLINK(&quot;http://evil.example/&quot;,&quot;证明材料&quot;)' in sheet or "HYPERLINK(" in sheet


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_does_not_evaluate(tmp_path):
    path, values = build_workbook(tmp_path)
    subprocess.run(
        ["soffice", "--headless", "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76", "--outdir", str(tmp_path), str(path)],
        check=True, timeout=120, capture_output=True,
    )
    text = (tmp_path / "cells.csv").read_text(encoding="utf-8")
    first_column = [row[0] if row else "" for row in csv.reader(io.StringIO(text))]
    assert first_column[0] == values[0]  # the formula text, not the evaluated "证明材料"
    assert first_column[1] == "+1" and first_column[2] == "-2"
