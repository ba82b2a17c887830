"""The audit log as CSV (UTF-8 with a BOM so Excel shows the Chinese), every cell safe to open in Excel."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from api.documents.cells import safe_cell

AUDIT_COLUMNS = ("seq", "recorded_at", "actor", "type", "data", "hash", "prev_hash",
                 # every stored field, so the hashes can be recomputed from the export alone
                 "signature", "topic", "originator_id", "originator_version", "state")


def audit_csv(events: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(AUDIT_COLUMNS)
    for e in events:
        writer.writerow([safe_cell(v) for v in (e["seq"], e["recorded_at"], json_text(e["actor"]), e["type"],
                                                json_text(e["data"]), e["hash"], e["prev_hash"],
                                                *(e.get(k) for k in AUDIT_COLUMNS[7:]))])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
