"""Exports that cannot run code: a note typed as a formula stays text in the workbook (read back with
openpyxl) and in the audit CSV (OWASP's CSV-injection rule)."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from api.documents.cells import FORMULA_STARTS
from tests.conftest import YEAR

EVIL = '=HYPERLINK("http://evil.example/","证明材料")'
NOTES = [EVIL, "+1+1", "-2+3", "@SUM(A1)", "\t=1+1"]


@pytest.fixture
def poisoned(api, year_2018):
    for note in NOTES:
        r = api.post("office", f"/years/{YEAR}/meetings", {"title": note.strip() or "会议", "held_on": "2018-03-01",
                                                          "absent": ["中山区"], "note": note, "evidence": [note]})
        assert r.status_code == 201, r.text
    return api


def test_the_workbook_has_no_formula_cell_for_a_note_typed_as_one(poisoned):
    r = poisoned.client.get(f"/api/years/{YEAR}/export.xlsx", headers=poisoned.auth["office"])
    assert r.status_code == 200
    book = load_workbook(io.BytesIO(r.content))
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row if c.value is not None]
    assert any(EVIL in str(c.value) for c in cells)  # the note is there, as text
    assert [c.coordinate for c in cells if c.data_type == "f"] == []


def test_the_audit_csv_has_no_cell_a_spreadsheet_would_evaluate(poisoned):
    r = poisoned.client.get(f"/api/years/{YEAR}/districts/中山区/audit", params={"format": "csv"},
                            headers=poisoned.auth["office"])
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert any("HYPERLINK" in cell for row in rows for cell in row)
    assert [cell for row in rows for cell in row if cell.startswith(FORMULA_STARTS)] == []
