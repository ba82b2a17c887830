"""Setting the 通报's heading (title, 文号, date) for a year: an event on the year's Bulletin aggregate."""

from __future__ import annotations

from typing import Any

from eventsourcing.application import AggregateNotFoundError

from domain.actors import Actor, require
from domain.bulletin import Bulletin, bulletin_id, heading


class BulletinCommands:
    def set_bulletin(self, actor: Actor, *, year: int, number: str, date: str, title: str | None = None,
                     idempotency_key: str | None = None) -> dict[str, Any]:
        """The office numbers and dates the 通报. Allowed after the year is closed too: the 通报 of
        final results is issued once they are final; its heading changes no score."""
        require(actor, "issue_bulletin")
        args = {"year": year, "title": title, "number": number, "date": date}

        def build() -> tuple[list, dict]:
            self._year(year)  # 404 for a year never opened
            fields = heading(year=year, title=title, number=number, date_text=date)
            try:
                bulletin = self._get(bulletin_id(year))
            except AggregateNotFoundError:
                bulletin = Bulletin.issue(year=year, actor=actor.as_event(), **fields)
            else:
                if {"title": bulletin.title, "number": bulletin.number, "date": bulletin.date} == fields:
                    return [], {"year": year, **fields, "receipt": bulletin.receipt}  # nothing new to record
                bulletin.revise(actor=actor.as_event(), **fields)
            return [bulletin], {"year": year, **fields, "receipt": bulletin.receipt}

        return self._write(actor, "set_bulletin", args, build, idempotency_key)
