"""The daemon's in-memory view of each account: health, alert states, recent history.

The daemon is the only writer of these rows, so it loads them once per account (first
poll) and then keeps them in step with what it commits, instead of reading the database
on every poll. Silences and acknowledgements are written by others (the CLI, the page,
another daemon), so they are re-read, at most every :data:`SILENCE_REFRESH`; an
acknowledgement made on this daemon's own page is taken at once (:meth:`take_ack`).

History is the big part (an hour of polls for an account with ``change … within: 1h``),
so it is kept as the rules read it (:class:`History`): the poll times, and only the
amounts of the kinds and currencies the account's rules look at. The rules get back
snapshots equal, for everything they read, to those the store would give.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import repeat
from operator import is_
from typing import Any

from balancewatch.model import KIND_ALIASES, Balance, Severity, Snapshot
from balancewatch.poll.decide import AccountPlan
from balancewatch.records import Acknowledgement, AlertState, Health, PollRecord, Silence
from balancewatch.rules.specs import HeldIncreaseRule
from balancewatch.state import Store

SILENCE_REFRESH = timedelta(seconds=10)
DbCall = Callable[..., Awaitable[Any]]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Needs:
    """What an account's rules read from earlier polls.

    Every rule reads one kind (``balance``, or ``kind`` for ``held_increase``) of one
    currency, or of every currency when it names none (``currencies`` is then None). The
    threshold rule reads the previous poll and, for its runway hint, every poll kept, so
    amounts are kept for every poll of the window: only whole columns can be left out.
    """

    window: timedelta
    kinds: tuple[str, ...]
    currencies: frozenset[str] | None

    @classmethod
    def of(cls, plan: AccountPlan) -> Needs:
        kinds: set[str] = set()
        currencies: set[str] | None = set()
        for entry in plan.rules:
            spec = entry.spec
            kind = spec.kind if isinstance(spec, HeldIncreaseRule) else spec.balance
            kinds.add(KIND_ALIASES.get(kind, kind))
            if spec.currency is None or currencies is None:
                currencies = None
            else:
                currencies.add(spec.currency)
        chosen = None if currencies is None else frozenset(currencies)
        return cls(plan.history_window, tuple(sorted(kinds)), chosen)


class History:
    """One account's earlier polls, column by column: a time, then one amount per column.

    A column is a (currency, kind) the rules read. Its amounts are the polls' own Decimal
    objects, and a poll whose amount equals the previous one, written the same way, shares
    the previous object: an unchanged balance costs a list slot. Times are microseconds
    since the epoch in an ``array``.
    """

    __slots__ = ("account", "columns", "needs", "plan", "times")

    def __init__(self, plan: AccountPlan, needs: Needs) -> None:
        self.account = plan.name
        self.plan = plan
        """The plan ``needs`` was computed for: a reload makes new plans (identity check)."""
        self.needs = needs
        self.times = array("q")
        self.columns: dict[tuple[str, str], list[Decimal | None]] = {}

    def append(self, snapshot: Snapshot) -> None:
        self.times.append((snapshot.taken_at - EPOCH) // MICROSECOND)
        for (currency, kind), column in self.columns.items():
            balance = snapshot.balances.get(currency)
            value = getattr(balance, kind) if balance is not None else None
            column.append(_shared(value, column[-1]))
        earlier = len(self.times) - 1
        wanted = self.needs.currencies
        for currency, balance in snapshot.balances.items():
            if wanted is not None and currency not in wanted:
                continue
            for kind in self.needs.kinds:
                value = getattr(balance, kind)
                if value is not None and (currency, kind) not in self.columns:
                    # One string per currency for all accounts, not one per account.
                    column = [*([None] * earlier), value]
                    self.columns[sys.intern(currency), kind] = column

    def trim(self, start: datetime) -> None:
        """Forget polls before ``start``, except the latest: the next poll's previous one."""
        drop = min(bisect_left(self.times, (start - EPOCH) // MICROSECOND), len(self.times) - 1)
        if drop <= 0:
            return
        del self.times[:drop]
        for key, column in list(self.columns.items()):
            del column[:drop]
            if column[-1] is None and all(value is None for value in column):
                del self.columns[key]  # a currency gone for the whole window

    def snapshots(self) -> list[Snapshot]:
        """The polls as snapshots, oldest first; polls with the same amounts share a dict."""
        layout = _layout(self.columns)
        rows: Iterable[tuple[Decimal | None, ...]] = (
            zip(*self.columns.values(), strict=True)
            if self.columns
            else repeat((), len(self.times))
        )
        found: list[Snapshot] = []
        last: tuple[Decimal | None, ...] | None = None
        balances: dict[str, Balance] = {}
        for micros, row in zip(self.times, rows, strict=True):
            if last is None or not all(map(is_, row, last)):
                balances, last = _balances(layout, row), row
            found.append(Snapshot(self.account, EPOCH + micros * MICROSECOND, balances))
        return found


def _shared(value: Decimal | None, previous: Decimal | None) -> Decimal | None:
    """``previous`` when it is the same amount written the same way (1.0 is not 1.00)."""
    if value is None or previous is None or value is previous:
        return value
    return previous if value.compare_total(previous) == 0 else value


Layout = list[tuple[str, list[tuple[int, str]]]]
"""Per currency, the (row position, kind) of its columns."""


def _layout(columns: Iterable[tuple[str, str]]) -> Layout:
    fields: dict[str, list[tuple[int, str]]] = {}
    for at, (currency, kind) in enumerate(columns):
        fields.setdefault(currency, []).append((at, kind))
    return list(fields.items())


def _balances(layout: Layout, row: tuple[Decimal | None, ...]) -> dict[str, Balance]:
    balances: dict[str, Balance] = {}
    for currency, fields in layout:
        kinds = {kind: row[at] for at, kind in fields if row[at] is not None}
        if kinds:
            balances[currency] = Balance(**kinds)
    return balances


class AccountCache:
    def __init__(self) -> None:
        self.health: dict[str, Health] = {}
        self.states: dict[str, dict[str, AlertState]] = {}
        self.history: dict[str, History] = {}
        self._firing: Counter[Severity] = Counter()
        self._silences: list[Silence] = []
        self._silences_at: datetime | None = None
        self._acks: dict[tuple[str, str], Acknowledgement] = {}
        self._taken: dict[tuple[str, str], Acknowledgement] = {}
        self._needs: dict[Needs, Needs] = {}

    async def ensure(
        self, name: str, plan: AccountPlan, store: Store, db: DbCall, now: datetime
    ) -> None:
        """Load an account's rows the first time it is polled, and its history again when
        a reload changed what its rules read (the store has what the cache dropped)."""
        if name not in self.states:
            health = await db(store.health, name)
            if health is not None:
                self.health[name] = health
            self.states[name] = await db(store.alert_states, name)
            self._count(self.states[name].values(), +1)
        kept = self.history.get(name)
        if kept is not None and kept.plan is plan:
            return
        needs = self._needs_of(plan)
        if kept is not None and kept.needs == needs:
            kept.plan = plan
            return
        recent = await db(store.history, name, now - plan.history_window)
        if not recent:
            last = await db(store.last_snapshot, name)
            recent = [last] if last is not None else []
        kept = self.history[name] = History(plan, needs)
        for snapshot in recent:
            kept.append(snapshot)

    def _needs_of(self, plan: AccountPlan) -> Needs:
        """``Needs.of(plan)``, one object for all accounts whose rules read the same."""
        needs = Needs.of(plan)
        return self._needs.setdefault(needs, needs)

    def forget(self, name: str) -> None:
        self.health.pop(name, None)
        self._count(self.states.pop(name, {}).values(), -1)
        self.history.pop(name, None)

    def history_for(self, name: str, plan: AccountPlan, now: datetime) -> list[Snapshot]:
        """Snapshots within the rules' window plus the previous one, oldest first.

        Older ones are dropped from memory as they leave the window; the latest is always
        kept, whatever its age, as the "previous poll" of the next one.
        """
        kept = self.history.get(name)
        if kept is None:
            kept = self.history[name] = History(plan, self._needs_of(plan))
        kept.trim(now - plan.history_window)
        return kept.snapshots()

    def remember(self, record: PollRecord) -> None:
        """Keep the cache equal to what was just committed."""
        self.health[record.account] = record.health
        states = self.states.setdefault(record.account, {})
        for state in record.alerts:
            old = states.get(state.key)
            self._count([old] if old is not None else [], -1)
            self._count([state], +1)
            states[state.key] = state
        kept = self.history.get(record.account)
        if record.snapshot is not None and kept is not None:
            kept.append(record.snapshot)
            # Polls the next one cannot see, dropped now rather than a whole interval later.
            kept.trim(record.snapshot.taken_at - kept.needs.window)

    async def silences(self, store: Store, db: DbCall, now: datetime) -> list[Silence]:
        if self._silences_at is None or now - self._silences_at >= SILENCE_REFRESH:
            self._silences = await db(store.silences, now)
            acks = await db(store.acknowledgements)
            self._acks = self._with_taken({(a.account, a.alert_key): a for a in acks})
            self._silences_at = now
        return self._silences

    def take_ack(self, ack: Acknowledgement) -> None:
        """An acknowledgement being stored by this daemon's page: in force from now on.

        Taken before it is written, so that no poll deciding meanwhile sends a reminder
        (which would end it); kept over refreshes that read the store before the write.
        """
        self._taken[ack.account, ack.alert_key] = ack
        self._acks[ack.account, ack.alert_key] = ack

    def _with_taken(
        self, stored: dict[tuple[str, str], Acknowledgement]
    ) -> dict[tuple[str, str], Acknowledgement]:
        for key, mine in list(self._taken.items()):
            found = stored.get(key)
            if found is not None and (found.episode, found.acked_at) >= (
                mine.episode,
                mine.acked_at,
            ):
                del self._taken[key]  # the store has it now
            else:
                stored[key] = mine
        return stored

    def acked(self, state: AlertState) -> bool:
        """Whether an acknowledgement quiets this alert's reminders (``alerts.advance``)."""
        ack = self._acks.get((state.account, state.key))
        return ack is not None and ack.holds(state)

    def holding_acks(self) -> list[Acknowledgement]:
        """The acknowledgements in force on the alerts this daemon polls (for metrics)."""
        return [
            ack
            for (account, key), ack in self._acks.items()
            if (state := self.states.get(account, {}).get(key)) is not None and ack.holds(state)
        ]

    def _count(self, states: Iterable[AlertState], sign: int) -> None:
        for state in states:
            if state.status == "firing":
                self._firing[state.severity] += sign

    def firing_counts(self) -> Counter[Severity]:
        """Firing alerts by severity, kept up to date as polls are remembered (O(1) a poll)."""
        return +self._firing
