"""The ranking's JSON, made again after a write from the lines that changed.

Each district's line is rendered by the `RankRow` model once per rescoring (`line`) as the bytes
before and after its rank; the ranking kept in memory glues a tie's lines together around the places
where the rank goes (api.service.reads.ranking), so after a write the whole answer is one `bytes.join`
per tie: the other districts are neither re-validated nor rounded again. The bytes equal the model's
rendering of the whole `Ranking` (a test holds them equal after every write).
"""

from __future__ import annotations

import threading
from typing import Any

from api.http import models as m
from api.service.reads.ranking import Row, Tie

RANK = b',"rank":0,'  # where the rank goes in a rendered line (the model's field order: district, total, rank)
DISTRICTS = b'"districts":[]'


def line(row: Row) -> tuple[bytes, bytes]:
    """A district's line of the ranking, before and after its rank."""
    text = m.RankRow(district=row.district, total=row.total, rank=0, signed_off=row.signed_off,
                     categories=row.categories).model_dump_json().encode()
    start, rank, end = text.partition(RANK)
    assert rank, text  # the model's field order changed: the rank would be lost
    return start + b',"rank":', b"," + end


class RankingJSON:
    def __init__(self) -> None:
        self._ties: dict[int, tuple[int, bytes]] = {}  # tie version → the rank it was rendered with, its bytes
        self._lock = threading.Lock()  # request threads share it

    def render(self, head: dict[str, Any], ranked: list[tuple[int, Tie]]) -> bytes:
        """`head` and `ranked` as `ScoreReads.ranking(actor, year, line)` gives them."""
        before, _, after = m.Ranking.model_validate({**head, "districts": []}).model_dump_json().encode().partition(
            DISTRICTS)
        with self._lock:
            kept, self._ties = self._ties, {}  # only this ranking's ties stay: a replaced version never returns
            for rank, tie in ranked:
                done = kept.get(tie.version)
                self._ties[tie.version] = done if done and done[0] == rank else (
                    rank, str(rank).encode().join(tie.pieces))
            body = b",".join(self._ties[tie.version][1] for _, tie in ranked)
        return b"".join((before, b'"districts":[', body, b"]", after))
