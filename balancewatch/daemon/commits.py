"""Group commit: many polls' records in one transaction, one fsync.

At 10,000 accounts a transaction per poll kept the database thread saturated and made polls
queue for seconds behind each other. :class:`GroupCommit` collects the records that arrive
within :data:`COMMIT_WINDOW` (or while a commit runs) and writes them together; each caller
waits until its own record is on disk, so nothing is delivered before its record is
committed and the outbox guarantee holds per record.

Records are fenced (:mod:`balancewatch.state.leases`): a record whose lease another daemon
took meanwhile is refused while the rest of its group is written; only its own caller gets
the :class:`~balancewatch.state.LeaseLost`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from balancewatch.model import StateError
from balancewatch.records import PollRecord
from balancewatch.state import LeaseLost

MAX_GROUP = 500
"""Most poll records committed in one transaction."""
COMMIT_WINDOW = 0.1
"""Seconds a group commit waits for more polls to join it: at most ten transactions (and
fsyncs) a second however many accounts there are, for at most 0.1 s more before a poll's
record is on disk and its alerts go out."""


class GroupCommit:
    """``await commit(record)`` returns once ``record`` is written, or raises its StateError.

    ``write`` writes a batch in one transaction (on the database thread); ``spawn`` runs the
    flush as a task the daemon tracks, so SIGTERM waits for it.
    """

    def __init__(
        self,
        write: Callable[[Sequence[PollRecord]], Awaitable[None]],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        *,
        window: float = COMMIT_WINDOW,
        max_group: int = MAX_GROUP,
    ) -> None:
        self._write = write
        self._spawn = spawn
        self._window = window
        self._max_group = max_group
        self._pending: list[tuple[PollRecord, asyncio.Future[None]]] = []
        self._committing = False

    async def commit(self, record: PollRecord) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((record, done))
        if not self._committing:
            self._committing = True
            self._spawn(self._flush())
        await done

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(self._window)  # let the polls finishing meanwhile join in
            while self._pending:
                cut = self._max_group
                batch, self._pending = self._pending[:cut], self._pending[cut:]
                try:
                    await self._write([record for record, _ in batch])
                except LeaseLost as lost:  # the others were written: only these failed
                    refused = {id(record) for record in lost.refused}
                    for record, done in batch:
                        if not done.done():
                            if id(record) in refused:
                                done.set_exception(lost)
                            else:
                                done.set_result(None)
                except StateError as error:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(error)
                else:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._committing = False
