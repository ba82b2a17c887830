"""Read-your-writes, per caller: a read waits until the views show what its own caller wrote in this process.

The views catch up a moment after each write (projections.runner). A caller who has just written expects
its next read to show it; a caller who wrote nothing has nothing to wait for, and under a stream of other
people's writes would otherwise wait for every catch-up (measured: the ranking's read p99 was the catch-up's
latency, ~100 ms, under 16 writers). So each write notes the position it reached for its actor, and a read
waits for its caller's newest one. Every read still sees the views at one position, and never an older one
than a read before it in this process (they only move forward).

Who the caller is comes from where the request's caller is known (the API's token dependency, the pages'
session, the score middleware), in a context variable, so the reads in between need not pass it along.
Without one (the command line, tests calling the service directly) a read waits for every write this
process made, as before. Across processes a caller passes the position on: `Kaohe-Read-After` (API),
the `kaohe_written` cookie (pages).
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Callable, TypeVar

from domain.actors import Actor

READING_FOR: ContextVar[Actor | None] = ContextVar("kaohe_reading_for", default=None)
T = TypeVar("T")


class OwnWrites:
    def __init__(self) -> None:
        self._by: dict[Actor, int] = {}  # actor → the newest position its writes reached here
        self._lock = threading.Lock()

    def wrote(self, actors: list[Actor], position: int) -> None:
        with self._lock:
            for actor in actors:
                if position > self._by.get(actor, 0):
                    self._by[actor] = position

    def of(self, caller: Actor | None, everyone: int) -> int:
        """The position a read waits for: its caller's newest write here (`caller`, else the request's caller in
        READING_FOR); with no caller known, `everyone` (this process's newest write)."""
        caller = caller or READING_FOR.get()
        return everyone if caller is None else self._by.get(caller, 0)


def reading_for(actor: Actor, read: Callable[[], T]) -> T:
    """Run `read` as a read for `actor` (in a thread of its own, where the request's context is not)."""
    token = READING_FOR.set(actor)
    try:
        return read()
    finally:
        READING_FOR.reset(token)
