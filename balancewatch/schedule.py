"""When each account is polled: a quick first look, then its own slot in every interval.

APScheduler's ``IntervalTrigger`` counts each run from the previous one, jitter included,
so accounts started together stay together: 10,000 accounts started within 5 seconds
arrived in an 11-second burst every minute, faster than one loop takes them (polls then
waited up to 12 s for the loop; measured in docs/benchmarks.md). :class:`SlotTrigger`
instead gives each account a fixed phase within its interval, derived from its name
(stable across restarts and reloads, spread evenly over many accounts), and fires once
per interval at that phase plus a fresh jitter that does not accumulate.

The first run is separate: soon after start (spread over :func:`first_run_spread`), so an
operator sees every balance within seconds (a minute for 10,000 accounts); the next one is
the first slot at least half an interval later.
"""

from __future__ import annotations

import math
import random
import zlib
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.base import BaseTrigger

SLOT_TOLERANCE = 1e-6
"""Of an interval: a run this close before its slot (float rounding) belongs to it."""


def phase(name: str) -> float:
    """The account's place within any interval, in [0, 1): evenly spread, stable."""
    return zlib.crc32(name.encode()) / 2**32


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
    at least half an interval later.
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
        if previous_fire_time == self.first:  # the quick first run: half an interval at least
            slot = math.ceil(since + 0.5)
        else:  # the slot after the one this run was in (it ran at most ``jitter`` late)
            slot = math.floor(since + SLOT_TOLERANCE) + 1
        when = self.offset + slot * self.interval
        if self.jitter:
            when += random.uniform(0, self.jitter)
        return datetime.fromtimestamp(when, tz=UTC)

    def __str__(self) -> str:
        return f"every {self.interval:g}s at +{self.offset:.3f}s, jitter {self.jitter:g}s"
