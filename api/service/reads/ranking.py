"""A year's ranking kept in order in memory, brought up to date from the districts rescored since.

The scoreboard stamps each district row it rescores with its position (`view_districts.scored_at`),
so after a write the ranking reads the one or few rows that changed, moves them to their new
place in the sorted order and gives every district its rank again: no other district is decoded,
rescored or turned back into decimals. The order is the one `rank()` defines (best first; equal
totals share a rank and keep the year's official order); a test holds the two equal after every write.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, insort
from decimal import Decimal
from typing import Any, NamedTuple

from projections.catchup import loads


class RankedRow(NamedTuple):
    """One district's line of the ranking. `stamp`: the scoreboard position its scores were computed at
    (a renderer may keep what it made of a row until the stamp moves on)."""

    district: str
    total: Decimal
    rank: int
    signed_off: int
    categories: dict[str, Decimal]
    stamp: int


class YearRanking:
    def __init__(self, year: int, official_order: list[str]):
        self.year = year
        self.official_order = list(official_order)
        self._place = {d: i for i, d in enumerate(self.official_order)}
        self._rows: dict[str, tuple[tuple, RankedRow]] = {}  # district → (its sort key, its row, rank unset)
        self._keys: list[tuple] = []  # every sort key, best first
        self._ranked: list[RankedRow] | None = None  # the rows with their ranks, until one moves
        self._seen = -1  # the newest stamp read
        self._lock = threading.Lock()  # request threads share one ranking

    def read(self, views: Any) -> list[RankedRow]:
        """The ranking as the views hold it now (at least as far as they had come when called)."""
        with self._lock:
            rows = views.query("SELECT district, summary, scored_at FROM view_districts "
                               "WHERE year = ? AND scored_at > ? AND summary IS NOT NULL", (self.year, self._seen))
            for district, summary, stamp in rows:
                self._update(district, loads(summary), int(stamp))
            if self._ranked is None:
                self._ranked = self._rank()
            return self._ranked

    def _update(self, district: str, summary: dict[str, Any], stamp: int) -> None:
        self._seen = max(self._seen, stamp)
        known = self._rows.get(district)
        if known is not None and known[1].stamp >= stamp:
            return
        total = Decimal(summary["total"])
        key = (-total, self._place.get(district, len(self._place)), district)
        if known is not None:
            del self._keys[bisect_left(self._keys, known[0])]
        insort(self._keys, key)
        row = RankedRow(district, total, 0, summary["signed_off"],
                        {c["id"]: Decimal(c["score"]) for c in summary["categories"]}, stamp)
        self._rows[district] = (key, row)
        self._ranked = None

    def _rank(self) -> list[RankedRow]:
        ranked: list[RankedRow] = []
        previous: RankedRow | None = None
        for place, key in enumerate(self._keys, start=1):
            row = self._rows[key[2]][1]
            rank = previous.rank if previous is not None and previous.total == row.total else place
            previous = row._replace(rank=rank) if row.rank != rank else row
            if previous is not row:
                self._rows[key[2]] = (key, previous)
            ranked.append(previous)
        return ranked
