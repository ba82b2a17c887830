"""The ranking's JSON, made again after a write from the rows that changed.

Each district's line is rendered by the `RankRow` model once per rescoring (`RankedRow.stamp`)
and kept as the bytes before and after its rank, so a write that moves one district re-renders
that one line and splices every rank in: the other 2,999 lines are neither re-validated nor
rounded again. The bytes equal the model's rendering of the whole `Ranking` (a test holds them
equal after every write).
"""

from __future__ import annotations

import threading
from typing import Any

from api.http import models as m
from api.service.reads.ranking import RankedRow

RANK = b',"rank":0,'  # where the rank goes in a rendered line (the model's field order: district, total, rank)
DISTRICTS = b'"districts":[]'


class RankingJSON:
    def __init__(self) -> None:
        self._lines: dict[tuple[int, str], tuple[int, bytes, bytes]] = {}  # (year, district) → stamp, before, after
        self._lock = threading.Lock()

    def render(self, head: dict[str, Any], rows: list[RankedRow]) -> bytes:
        before, _, after = m.Ranking.model_validate({**head, "districts": []}).model_dump_json().encode().partition(
            DISTRICTS)
        year = head["year"]
        lines = []
        with self._lock:
            for row in rows:
                line = self._lines.get((year, row.district))
                if line is None or line[0] != row.stamp:
                    line = self._lines[(year, row.district)] = (row.stamp, *self._line(row))
                lines.append(b"%s%d%s" % (line[1], row.rank, line[2]))
        return b"".join((before, b'"districts":[', b",".join(lines), b"]", after))

    @staticmethod
    def _line(row: RankedRow) -> tuple[bytes, bytes]:
        text = m.RankRow(district=row.district, total=row.total, rank=0, signed_off=row.signed_off,
                         categories=row.categories).model_dump_json().encode()
        start, rank, end = text.partition(RANK)
        assert rank, text  # the model's field order changed: the rank would be lost
        return start + b',"rank":', b"," + end
