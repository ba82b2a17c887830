"""The assessment year (考核年度): its rubric pinned by content hash, its districts, open or closed."""

from __future__ import annotations

from uuid import UUID

from domain.chained import ChainedAggregate, named_id
from domain.errors import Conflict, InvalidInput, NotFound
from domain.text import check_name


def year_id(year: int) -> UUID:
    return named_id("year", year)


class AssessmentYear(ChainedAggregate):
    class Opened(ChainedAggregate.Started):
        year: int
        rubric: str
        rubric_hash: str
        districts: list

        def evolve(self, y: AssessmentYear) -> None:
            y.year = self.year
            y.rubric = self.rubric
            y.rubric_hash = self.rubric_hash
            y.districts = list(self.districts)
            y.district_set = frozenset(self.districts)
            y.closed = False

    class Closed(ChainedAggregate.Event):
        forced: bool
        unsigned: list  # [district, indicator] pairs not signed off when closed
        note: str | None

        def evolve(self, y: AssessmentYear) -> None:
            y.closed = True

    @classmethod
    def open(cls, *, year: int, rubric: str, rubric_hash: str, districts: list[str], actor: dict) -> AssessmentYear:
        if not isinstance(year, int) or not 2000 <= year <= 2100:
            raise InvalidInput("year 必须是2000至2100之间的年份 (year must be 2000..2100)", field="year")
        if not districts:
            raise InvalidInput("districts 不能为空 (at least one district)", field="districts")
        cleaned = [check_name(d, "districts") for d in districts]
        if len(set(cleaned)) != len(cleaned):
            raise InvalidInput("districts 有重复 (duplicate district)", field="districts")
        return cls._start(
            cls.Opened, year_id(year), year=year, rubric=rubric, rubric_hash=rubric_hash, districts=cleaned, actor=actor
        )

    def close(self, *, forced: bool, unsigned: list, actor: dict, note: str | None = None) -> None:
        self.check_open()
        self._append(self.Closed, forced=forced, unsigned=unsigned, note=note, actor=actor)

    def check_open(self) -> None:
        if self.closed:
            raise Conflict(f"{self.year} 年度已结束考核，不能再写入 (year {self.year} is closed; it is read-only)")

    def check_district(self, district: str) -> None:
        if district not in self.district_set:
            raise NotFound(f"{self.year} 年度没有被考核单位 {district!r} (unknown district)")
