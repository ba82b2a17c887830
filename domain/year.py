"""The assessment year (考核年度): its rubric pinned by content hash, its districts, its dispute window,
its 公示 (publication), open or closed."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from domain.chained import ChainedAggregate, named_id
from domain.cycle import DEFAULT_DISPUTE_DAYS, check_days, publication_end, publication_running
from domain.errors import Conflict, InvalidInput, NotFound, PublicationRunning
from domain.text import check_name
from domain.working_days import shanghai_date


def year_id(year: int) -> UUID:
    return named_id("year", year)


class AssessmentYear(ChainedAggregate):
    class Opened(ChainedAggregate.Started):
        # v2 added `dispute_days` (the dispute window in working days); years opened before had 10.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state.setdefault("dispute_days", DEFAULT_DISPUTE_DAYS)

        year: int
        rubric: str
        rubric_hash: str
        districts: list
        dispute_days: int

        def evolve(self, y: AssessmentYear) -> None:
            y.year = self.year
            y.rubric = self.rubric
            y.rubric_hash = self.rubric_hash
            y.districts = list(self.districts)
            y.district_set = frozenset(self.districts)
            y.dispute_days = self.dispute_days
            y.publication = None
            y.closed = False

    class Published(ChainedAggregate.Event):
        """The provisional results were published (公示) for `days` working days, to the end of `ends_on`."""

        days: int
        starts_on: str
        ends_on: str
        note: str | None

        def evolve(self, y: AssessmentYear) -> None:
            y.publication = {"days": self.days, "starts_on": self.starts_on, "ends_on": self.ends_on}

    class Closed(ChainedAggregate.Event):
        forced: bool
        unsigned: list  # [district, indicator] pairs not signed off when closed
        note: str | None

        def evolve(self, y: AssessmentYear) -> None:
            y.closed = True

    @classmethod
    def open(cls, *, year: int, rubric: str, rubric_hash: str, districts: list[str], actor: dict,
             dispute_days: int = DEFAULT_DISPUTE_DAYS) -> AssessmentYear:
        if not isinstance(year, int) or not 2000 <= year <= 2100:
            raise InvalidInput("year 必须是2000至2100之间的年份 (year must be 2000..2100)", field="year")
        if not districts:
            raise InvalidInput("districts 不能为空 (at least one district)", field="districts")
        cleaned = [check_name(d, "districts") for d in districts]
        if len(set(cleaned)) != len(cleaned):
            raise InvalidInput("districts 有重复 (duplicate district)", field="districts")
        days = check_days(dispute_days, "dispute_days")
        return cls._start(cls.Opened, year_id(year), year=year, rubric=rubric, rubric_hash=rubric_hash,
                          districts=cleaned, dispute_days=days, actor=actor)

    def publish(self, *, days: int, now: datetime, actor: dict, note: str | None = None) -> None:
        """Publish the provisional results (公示) from today for `days` working days."""
        self.check_open()
        days = check_days(days, "days")
        today = shanghai_date(now)
        if publication_running(self.publication_ends_on, today):
            raise PublicationRunning(f"公示进行中，至 {self.publication_ends_on} 结束，不能再次公示 "
                                     f"(a publication is running until {self.publication_ends_on})",
                                     details={"ends_on": self.publication_ends_on})
        ends_on = publication_end(now, days)
        self._append(self.Published, days=days, starts_on=today.isoformat(), ends_on=ends_on.isoformat(), note=note,
                     actor=actor)

    @property
    def publication_ends_on(self) -> str | None:
        return self.publication["ends_on"] if self.publication else None

    def close(self, *, forced: bool, unsigned: list, actor: dict, note: str | None = None,
              today: date | None = None) -> None:
        self.check_open()
        if not forced and today is not None:
            self.check_publication_over(today)
        self._append(self.Closed, forced=forced, unsigned=unsigned, note=note, actor=actor)

    def check_publication_over(self, today: date) -> None:
        """Closing during a 公示 is refused (unless forced, which the caller decides)."""
        if publication_running(self.publication_ends_on, today):
            raise PublicationRunning(
                f"公示至 {self.publication_ends_on} 结束，公示期间不能结束考核 (the publication runs until "
                f"{self.publication_ends_on}; pass force to close anyway)",
                details={"ends_on": self.publication_ends_on})

    def check_open(self) -> None:
        if self.closed:
            raise Conflict(f"{self.year} 年度已结束考核，不能再写入 (year {self.year} is closed; it is read-only)")

    def check_district(self, district: str) -> None:
        if district not in self.district_set:
            raise NotFound(f"{self.year} 年度没有被考核单位 {district!r} (unknown district)")
