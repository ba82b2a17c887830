"""A year's ranking kept in order in memory, brought up to date from the districts rescored since.

The scoreboard stamps each district row it rescores with the position of the district's newest event
(`view_districts.scored_at`; events are projected in order, so a later rescoring stamps higher),
so after a write the ranking reads the one or few rows that changed and moves each to its new
place: no other district is decoded, rescored or turned back into decimals. Districts with equal
totals form a `Tie` (they share a rank, listed in the year's official order); a move replaces the
one or two ties it touches, and the ranks follow from the ties' sizes. The order is the one `rank()`
defines; a test holds the two equal after every write.

Given `line` (row → its rendering in two parts, before and after its rank; api.http.ranking_json), a
tie also keeps its lines glued together around the places where the rank goes (`Tie.pieces`), edited
by slicing as districts join and leave it, so rendering the whole ranking after a write is one
`bytes.join` per tie and no step per district.
"""

from __future__ import annotations

import itertools
import threading
from bisect import bisect_left, insort
from decimal import Decimal
from typing import Any, Callable, NamedTuple

from projections.catchup import loads

_versions = itertools.count(1)  # one sequence for every tie of every ranking: a version names one content


class Row(NamedTuple):
    """One district's line of the ranking, without its rank. `stamp`: the position of the newest event its
    scores include."""

    district: str
    total: Decimal
    signed_off: int
    categories: dict[str, Decimal]
    stamp: int
    place: tuple[int, str]  # its place in the year's official order


class Tie(NamedTuple):
    """The districts with one total, in the official order: they share a rank. A new version when they change.
    `pieces` (with a `line`): [before₀, after₀ + "," + before₁, …, afterₙ], so `rank.join(pieces)` is the tie."""

    total: Decimal
    rows: tuple[Row, ...]
    version: int
    pieces: tuple[bytes, ...] = ()


Line = Callable[[Row], tuple[bytes, bytes]]


class YearRanking:
    def __init__(self, year: int, official_order: list[str], line: Line | None = None):
        self.year = year
        self.official_order = list(official_order)
        self._line = line
        self._place = {d: i for i, d in enumerate(self.official_order)}
        self._rows: dict[str, Row] = {}
        self._lines: dict[str, tuple[bytes, bytes]] = {}  # district → its row rendered by `line`
        self._order: list[Decimal] = []  # every total held, negated: ascending is best first
        self._ties: dict[Decimal, Tie] = {}  # negated total → its tie
        self._ranked: list[tuple[int, Tie]] | None = None  # (rank, tie), best first, until a row moves
        self._seen = -1  # the newest stamp read
        self._lock = threading.Lock()  # request threads share one ranking

    def read(self, views: Any) -> list[tuple[int, Tie]]:
        """The ranking as the views hold it now (at least as far as they had come when called): each tie
        with its rank, best first."""
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
        old = self._rows.get(district)
        if old is not None and old.stamp >= stamp:
            return
        row = Row(district, Decimal(summary["total"]), summary["signed_off"],
                  {c["id"]: Decimal(c["score"]) for c in summary["categories"]}, stamp,
                  (self._place.get(district, len(self._place)), district))
        if old is not None:
            self._leave(old)
        self._rows[district] = row
        self._join(row)
        self._ranked = None

    def _leave(self, row: Row) -> None:
        key = -row.total
        tie = self._ties[key]
        if len(tie.rows) == 1:
            del self._ties[key]
            del self._order[bisect_left(self._order, key)]
            return
        at = bisect_left(tie.rows, row.place, key=_place)
        rows = tie.rows[:at] + tie.rows[at + 1:]  # slices: copied in C, however long the tie
        pieces = tie.pieces
        if self._line is not None:  # the pieces on either side of the line taken out become one
            around = [self._lines[rows[at - 1].district][1]] if at > 0 else []
            if at < len(rows):
                around.append(self._lines[rows[at].district][0])
            pieces = pieces[:at] + (b",".join(around),) + pieces[at + 2:]
        self._ties[key] = Tie(row.total, rows, next(_versions), pieces)

    def _join(self, row: Row) -> None:
        key = -row.total
        tie = self._ties.get(key)
        if tie is None:
            insort(self._order, key)
            tie = Tie(row.total, (), 0, (b"",))
        at = bisect_left(tie.rows, row.place, key=_place)
        rows = tie.rows[:at] + (row,) + tie.rows[at:]
        pieces = tie.pieces
        if self._line is not None:  # the piece where the line goes in becomes two, the line between them
            before, after = self._lines[row.district] = self._line(row)
            left = self._lines[tie.rows[at - 1].district][1] + b"," if at > 0 else b""
            right = b"," + self._lines[tie.rows[at].district][0] if at < len(tie.rows) else b""
            pieces = pieces[:at] + (left + before, after + right) + pieces[at + 1:]
        self._ties[key] = Tie(row.total, rows, next(_versions), pieces)

    def _rank(self) -> list[tuple[int, Tie]]:
        ranked, place = [], 1
        for key in self._order:
            tie = self._ties[key]
            ranked.append((place, tie))  # 1, 1, 3: a tie takes the place of its first district
            place += len(tie.rows)
        return ranked


def _place(row: Row) -> tuple[int, str]:
    return row.place
