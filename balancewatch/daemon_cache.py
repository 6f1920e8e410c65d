"""The daemon's in-memory view of each account: health, alert states, recent history.

The daemon is the only writer of these rows, so it loads them once per account (first
poll) and then keeps them in step with what it commits, instead of reading the database
on every poll. Silences are written by the CLI from another process, so they are re-read,
at most every :data:`SILENCE_REFRESH`.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from balancewatch.model import Severity, Snapshot
from balancewatch.poller import AccountPlan
from balancewatch.records import AlertState, Health, PollRecord, Silence, Store

SILENCE_REFRESH = timedelta(seconds=10)
DbCall = Callable[..., Awaitable[Any]]


class AccountCache:
    def __init__(self) -> None:
        self.health: dict[str, Health] = {}
        self.states: dict[str, dict[str, AlertState]] = {}
        self.history: dict[str, deque[Snapshot]] = {}
        self._firing: Counter[Severity] = Counter()
        self._silences: list[Silence] = []
        self._silences_at: datetime | None = None

    async def ensure(
        self, name: str, plan: AccountPlan, store: Store, db: DbCall, now: datetime
    ) -> None:
        """Load an account's rows the first time it is polled."""
        if name in self.history:
            return
        health = await db(store.health, name)
        if health is not None:
            self.health[name] = health
        self.states[name] = await db(store.alert_states, name)
        self._count(self.states[name].values(), +1)
        recent = await db(store.history, name, now - plan.history_window)
        if not recent:
            last = await db(store.last_snapshot, name)
            recent = [last] if last is not None else []
        self.history[name] = deque(recent)

    def forget(self, name: str) -> None:
        self.health.pop(name, None)
        self._count(self.states.pop(name, {}).values(), -1)
        self.history.pop(name, None)

    def history_for(self, name: str, plan: AccountPlan, now: datetime) -> list[Snapshot]:
        """Snapshots within the rules' window plus the previous one, oldest first.

        Older ones are dropped from memory as they leave the window; the latest is always
        kept, whatever its age, as the "previous poll" of the next one.
        """
        series = self.history.setdefault(name, deque())
        start = now - plan.history_window
        while len(series) > 1 and series[0].taken_at < start:
            series.popleft()
        return list(series)

    def remember(self, record: PollRecord) -> None:
        """Keep the cache equal to what was just committed."""
        self.health[record.account] = record.health
        states = self.states.setdefault(record.account, {})
        for state in record.alerts:
            old = states.get(state.key)
            self._count([old] if old is not None else [], -1)
            self._count([state], +1)
            states[state.key] = state
        if record.snapshot is not None:
            self.history.setdefault(record.account, deque()).append(record.snapshot)

    async def silences(self, store: Store, db: DbCall, now: datetime) -> list[Silence]:
        if self._silences_at is None or now - self._silences_at >= SILENCE_REFRESH:
            self._silences = await db(store.silences, now)
            self._silences_at = now
        return self._silences

    def _count(self, states: Iterable[AlertState], sign: int) -> None:
        for state in states:
            if state.status == "firing":
                self._firing[state.severity] += sign

    def firing_counts(self) -> Counter[Severity]:
        """Firing alerts by severity, kept up to date as polls are remembered (O(1) a poll)."""
        return +self._firing
