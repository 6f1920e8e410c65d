"""When each account is polled: a quick first look, then its own slot in every interval.

APScheduler's ``IntervalTrigger`` counts each run from the previous one, jitter included,
so accounts started together stay together: 10,000 accounts started within 5 seconds
arrived in an 11-second burst every minute, faster than one loop takes them (polls then
waited up to 12 s for the loop; measured in docs/benchmarks.md). :class:`SlotTrigger`
instead gives each account a fixed phase within its interval, derived from its name
(stable across restarts and reloads, spread evenly over many accounts), and fires once
per interval at that phase plus a fresh jitter that does not accumulate.

:class:`Ticker` is APScheduler 3's ``AsyncIOScheduler`` holding one such job per account,
``max_instances=1`` (a slow poll is never overlapped by the next), ``coalesce`` (a missed
run is one run, not a burst) and a misfire grace of half the interval; nothing else in
balancewatch touches APScheduler.

The first run is separate: soon after start (spread over :func:`first_run_spread`), so an
operator sees every balance within seconds (a minute for 10,000 accounts); the next one is
the first slot at least three quarters of an interval after the first run was due (a
first run started late, on a busy start, is still well apart from it).
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
import zlib
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from apscheduler.triggers.base import BaseTrigger

if TYPE_CHECKING:
    from balancewatch.poll.plan import AccountPlan

NO_KEYWORDS: Mapping[str, Any] = MappingProxyType({})
SLOT_TOLERANCE = 1e-6
"""Of an interval: a run this close before its slot (float rounding) belongs to it."""


def phase(name: str) -> float:
    """The account's place within any interval, in [0, 1): evenly spread, stable."""
    return zlib.crc32(name.encode()) / 2**32


def next_slot(name: str, interval: timedelta, now: datetime) -> datetime:
    """The account's first slot after ``now``: a first run there is no quick one, and the
    account stays in step with every other daemon's ticks."""
    seconds = interval.total_seconds()
    offset = phase(name) * seconds
    slot = math.floor((now.timestamp() - offset) / seconds) + 1
    return datetime.fromtimestamp(offset + slot * seconds, tz=UTC)


FIRST_RUNS_APART = timedelta(milliseconds=5)
"""On average between two first runs: 200 a second, well within what one core polls."""


def first_run_spread(accounts: int, interval: timedelta) -> timedelta:
    """How long after start the first runs are spread: 5 ms per account, at most one
    interval. A few accounts are all read within a second; 10,000 take 50 s rather than
    all waiting at once (a waiting poll holds ~8 kB, and the heap keeps that peak)."""
    return min(interval, FIRST_RUNS_APART * accounts)


class SlotTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no types
    """Fire at ``first``, then once per ``interval`` at the account's phase, plus jitter.

    Slots are ``phase × interval + k × interval`` seconds since the epoch. A run fires at
    most ``jitter`` (capped at one interval) after its slot, so the slot it belongs to is
    the last one at or before it, and the next run is in the slot after that: never the
    same slot twice, none skipped. After the quick first run, the next is the first slot
    at least three quarters of an interval later.
    """

    __slots__ = ("first", "interval", "jitter", "offset")

    def __init__(self, *, interval: float, jitter: float, offset: float, first: datetime):
        self.interval = interval
        self.jitter = min(jitter, interval)
        self.offset = offset * interval
        self.first = first

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None:
            return self.first
        since = (previous_fire_time.timestamp() - self.offset) / self.interval
        if previous_fire_time == self.first:  # the quick first run: 3/4 interval at least
            slot = math.ceil(since + 0.75)
        else:  # the slot after the one this run was in (it ran at most ``jitter`` late)
            slot = math.floor(since + SLOT_TOLERANCE) + 1
        when = self.offset + slot * self.interval
        if self.jitter:
            when += random.uniform(0, self.jitter)
        return datetime.fromtimestamp(when, tz=UTC)

    def __str__(self) -> str:
        return f"every {self.interval:g}s at +{self.offset:.3f}s, jitter {self.jitter:g}s"


class Ticker:
    """The local ticker: one APScheduler job per account, each calling ``run(name)``."""

    def __init__(self, run: Callable[[str], Awaitable[None]]) -> None:
        from apscheduler.events import EVENT_JOB_SUBMITTED
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self._run = run
        self._scheduler: Any = AsyncIOScheduler(timezone=UTC)  # on the loop running start()
        self._scheduler.add_listener(self._submitted, EVENT_JOB_SUBMITTED)
        self._due: dict[str, datetime] = {}
        self._floats: dict[timedelta, float] = {}

    def add(self, name: str, interval: timedelta, jitter: timedelta, first: datetime) -> None:
        """Poll ``name`` at ``first``, then once per ``interval`` in its slot."""
        # Accounts share their interval and jitter: one float object each, not one a job.
        seconds = self._floats.setdefault(interval, interval.total_seconds())
        spread = self._floats.setdefault(jitter, jitter.total_seconds())
        trigger = SlotTrigger(interval=seconds, jitter=spread, offset=phase(name), first=first)
        job = self._scheduler.add_job(
            self._run,
            trigger,
            args=(name,),
            id=name,
            name=name,
            next_run_time=first,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(seconds / 2)),
        )
        # Every job calls the same function with no keywords: one reference text and one
        # empty mapping for all, not a string and a dict of its own each (~160 B a job).
        if job.func_ref:
            job.func_ref = sys.intern(job.func_ref)
        job.kwargs = NO_KEYWORDS

    def remove(self, name: str) -> None:
        """Stop polling ``name`` (nothing happens if it was not scheduled)."""
        from apscheduler.jobstores.base import JobLookupError

        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(name)
        self._due.pop(name, None)

    def has(self, name: str) -> bool:
        return self._scheduler.get_job(name) is not None

    def due_at(self, name: str) -> datetime | None:
        """When the run now starting was meant to start (once per run), to log its lateness."""
        return self._due.pop(name, None)

    def _submitted(self, event: Any) -> None:
        self._due[event.job_id] = event.scheduled_run_times[-1]

    def start(self) -> None:
        self._scheduler.start()

    def pause(self) -> None:
        """Stop starting runs; those in progress go on (``shutdown`` would cancel them)."""
        self._scheduler.pause()

    def shutdown(self) -> None:
        self._scheduler.shutdown(wait=False)


def first_round(plans: Collection[AccountPlan]) -> float:
    """Seconds until every account has been polled once (its cache entries made)."""
    rounds = (
        first_run_spread(len(plans), p.effective.interval) + p.effective.timeout for p in plans
    )
    return max(rounds, default=timedelta(0)).total_seconds() + 1
