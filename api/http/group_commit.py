"""Group commit: findings that arrive together over HTTP are saved in one transaction (one fsync).

Requests queue their command; a batch runs in a worker thread (the loop keeps serving reads
meanwhile) and each request gets its own answer. One batch is in flight at a time: whatever
arrives while it saves waits and goes into the next one, so under load a batch holds as many
commands as arrived during one save. On PostgreSQL that is also one take of the event table's
lock (the library's `LOCK TABLE ... IN EXCLUSIVE MODE`, which every append holds until it
commits) for the whole batch rather than one per finding.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from api.service import KaoheApp


class GroupCommit:
    def __init__(self, service: KaoheApp):
        self.service = service
        self._waiting: list[tuple[Callable[[], dict[str, Any]], asyncio.Future]] = []
        self._running = False  # a batch is being saved: new commands wait for the next one

    async def run(self, command: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._waiting and not self._running:
            loop.call_soon(self._flush, loop)  # after the requests already in this turn have queued theirs
        self._waiting.append((command, future))
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._waiting = self._waiting, []
        if not batch:
            self._running = False
            return
        self._running = True
        done = loop.run_in_executor(None, self._run, [command for command, _ in batch])
        done.add_done_callback(lambda results: self._answered(loop, batch, results.result()))

    def _answered(self, loop: asyncio.AbstractEventLoop, batch: list[tuple[Any, asyncio.Future]],
                  results: list[Any]) -> None:
        self._answer(batch, results)
        self._flush(loop)  # what arrived meanwhile, as one batch (or nothing left: idle again)

    def _run(self, commands: list[Callable[[], dict[str, Any]]]) -> list[Any]:
        if self.service.metrics is not None:
            self.service.metrics.batches.observe(len(commands))
        try:
            return self.service.run_together(commands)
        except BaseException as e:  # noqa: BLE001 - every waiting request gets an answer, whatever happened
            return [e] * len(commands)

    @staticmethod
    def _answer(batch: list[tuple[Any, asyncio.Future]], results: list[Any]) -> None:
        for (_, future), result in zip(batch, results):
            if future.done():
                continue  # its request was cancelled (client gone, shutdown); the others still get theirs
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
