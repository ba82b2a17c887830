"""The results bulletin (通报) of a year: the title, document number (文号) and date the office sets.

One small hash-chained aggregate per year (id from the year). Each event carries the whole
heading, so the newest event is what the 通报 prints and every earlier one stays in the history.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from domain.chained import ChainedAggregate, named_id
from domain.errors import InvalidInput
from domain.text import check_input

MAX_TITLE = 200
MAX_NUMBER = 60


def bulletin_id(year: int) -> UUID:
    return named_id("bulletin", year)


def default_title(year: int) -> str:
    return f"关于{year}年度区市县（开放先导区）总工会实绩考核结果的通报"


def heading(*, year: int, title: str | None, number: str, date_text: str) -> dict:
    """The checked heading: a title (or the default), a 文号 and an ISO date; refusals name the field."""
    title = (title or "").strip() or default_title(year)
    number = (number or "").strip() if isinstance(number, str) else number
    if not isinstance(number, str) or not number:
        raise InvalidInput("number 文号不能为空，例如 大工发〔2019〕3号 (number is required)", field="number")
    for field, value, longest in (("title", title, MAX_TITLE), ("number", number, MAX_NUMBER)):
        check_input(value, field)
        if "\n" in value or "\r" in value or "\t" in value:
            raise InvalidInput(f"{field} 不能换行 (must be one line)", field=field)
        if len(value) > longest:
            raise InvalidInput(f"{field} 不能超过 {longest} 个字 (at most {longest} characters)", field=field)
    try:
        day = date.fromisoformat(str(date_text))
    except ValueError:
        raise InvalidInput(f"date 日期格式错误，应为 YYYY-MM-DD (malformed date: {date_text!r})", field="date") from None
    if day.year < year:
        raise InvalidInput(f"date 通报日期不能早于 {year} 年 (the bulletin is dated in or after its year)",
                           field="date")
    return {"title": title, "number": number, "date": day.isoformat()}


class Bulletin(ChainedAggregate):
    class Issued(ChainedAggregate.Started):
        year: int
        title: str
        number: str
        date: str  # ISO date printed on the 通报

        def evolve(self, b: Bulletin) -> None:
            b.year, b.title, b.number, b.date = self.year, self.title, self.number, self.date

    class Revised(ChainedAggregate.Event):
        title: str
        number: str
        date: str

        def evolve(self, b: Bulletin) -> None:
            b.title, b.number, b.date = self.title, self.number, self.date

    @classmethod
    def issue(cls, *, year: int, title: str, number: str, date: str, actor: dict) -> Bulletin:
        return cls._start(cls.Issued, bulletin_id(year), year=year, title=title, number=number, date=date,
                          actor=actor)

    def revise(self, *, title: str, number: str, date: str, actor: dict) -> None:
        self._append(self.Revised, title=title, number=number, date=date, actor=actor)
