"""The index of meetings by year, title and date (会议登记索引): a second meeting with the same title and
date is refused unless confirmed, in every process, because the index is saved with the meeting."""

from __future__ import annotations

from uuid import UUID

from domain.chained import ChainedAggregate, named_id
from domain.errors import Conflict


class DuplicateMeeting(Conflict):
    code = "duplicate_meeting"


def meeting_key(title: str) -> str:
    """The title as the index compares it: surrounding and repeated blanks do not make a new meeting."""
    return " ".join(str(title).split())


def meeting_index_id(year: int, title: str, held_on: str) -> UUID:
    return named_id("meeting-index", year, meeting_key(title), held_on)


class MeetingIndex(ChainedAggregate):
    """One per (year, title, date); two processes creating it at once conflict on its version."""

    class Registered(ChainedAggregate.Started):
        year: int
        title: str
        held_on: str
        meeting_id: str

        def evolve(self, index: MeetingIndex) -> None:
            index.year, index.title, index.held_on = self.year, self.title, self.held_on
            index.meetings = [self.meeting_id]
            index.live = [self.meeting_id]

    class MeetingAdded(ChainedAggregate.Event):
        meeting_id: str
        duplicate_confirmed: bool  # the office confirmed it is not the same meeting entered twice

        def evolve(self, index: MeetingIndex) -> None:
            index.meetings.append(self.meeting_id)
            index.live.append(self.meeting_id)

    class MeetingVoided(ChainedAggregate.Event):
        meeting_id: str

        def evolve(self, index: MeetingIndex) -> None:
            index.live = [m for m in index.live if m != self.meeting_id]

    @classmethod
    def register(cls, *, year: int, title: str, held_on: str, meeting_id: str, actor: dict) -> MeetingIndex:
        return cls._start(cls.Registered, meeting_index_id(year, title, held_on), year=year,
                          title=meeting_key(title), held_on=held_on, meeting_id=meeting_id, actor=actor)

    def check_new(self, *, allow_duplicate: bool) -> None:
        """Refuse a meeting whose title and date a live (not voided) meeting already has, unless confirmed."""
        if self.live and not allow_duplicate:
            raise DuplicateMeeting(
                f"{self.held_on} 已登记过会议「{self.title}」，如确非重复录入请确认后再登记 "
                "(a meeting with this title and date exists; pass allow_duplicate to record another)",
                field="title", details={"meetings": list(self.live)})

    def add(self, *, meeting_id: str, duplicate_confirmed: bool, actor: dict) -> None:
        self._append(self.MeetingAdded, meeting_id=meeting_id, duplicate_confirmed=duplicate_confirmed, actor=actor)

    def note_voided(self, *, meeting_id: str, actor: dict) -> None:
        if meeting_id in self.live:
            self._append(self.MeetingVoided, meeting_id=meeting_id, actor=actor)
