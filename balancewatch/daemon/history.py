"""The daemon's history of one account: what its rules read, kept so that a question costs
the same whatever the window.

:class:`History` answers the rules' questions (:class:`balancewatch.rules.history.History`)
from one :class:`~balancewatch.daemon.runs.Column` per amount the rules read (a currency
and a balance kind): runs of equal amounts, with exact sums of decreases and monotonic
stacks for the highest and lowest since any instant (:mod:`balancewatch.daemon.runs`).
An account whose rules look back no further than the previous poll keeps that poll alone
(:class:`Latest`). :class:`Needs` says what an account's rules read.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from balancewatch.daemon.runs import Column, stale
from balancewatch.model import KIND_ALIASES, Balance, Snapshot
from balancewatch.poll.plan import AccountPlan
from balancewatch.rules.history import ZERO, Point, Spending
from balancewatch.rules.specs import HeldIncreaseRule

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Needs:
    """What an account's rules read from earlier polls.

    Every rule reads one kind (``balance``, or ``kind`` for ``held_increase``) of one
    currency, or of every currency when it names none (``currencies`` is then None).
    """

    window: timedelta
    kinds: tuple[str, ...]
    currencies: frozenset[str] | None

    @classmethod
    def of(cls, plan: AccountPlan) -> Needs:
        kinds: set[str] = set()
        currencies: set[str] | None = set()
        for spec in plan.rules.specs:
            kind = spec.kind if isinstance(spec, HeldIncreaseRule) else spec.balance
            kinds.add(KIND_ALIASES.get(kind, kind))
            if spec.currency is None or currencies is None:
                currencies = None
            else:
                currencies.add(spec.currency)
        chosen = None if currencies is None else frozenset(currencies)
        return cls(plan.history_window, tuple(sorted(kinds)), chosen)


def kept_history(plan: AccountPlan, needs: Needs) -> History | Latest:
    """What the daemon keeps of an account's polls: the previous one alone when its rules
    look back no further (:class:`Latest`), else the window (:class:`History`)."""
    return Latest(plan, needs) if needs.window <= timedelta(0) else History(plan, needs)


def micros(at: datetime) -> int:
    return (at - EPOCH) // MICROSECOND


class History:
    """One account's kept polls: their times, and a :class:`Column` per amount its rules
    read. Answers :class:`balancewatch.rules.history.History`'s questions.

    Polls are numbered from the first one appended; ``first`` is the oldest kept, and the
    arrays may still hold a few older ones at their front until they are compacted.
    """

    __slots__ = ("columns", "first", "needs", "origin", "plan", "times")

    def __init__(self, plan: AccountPlan, needs: Needs) -> None:
        self.plan = plan
        """The plan ``needs`` was computed for: a reload makes new plans (identity check)."""
        self.needs = needs
        self.times = array("q")
        """Poll times, microseconds since the epoch, from poll number ``origin`` on."""
        self.origin = 0
        self.first = 0
        self.columns: list[Column] = []
        """A few at most: a list is smaller than a mapping, and as quick to search."""

    @property
    def polls(self) -> int:
        """How many polls were appended: the number the next one gets."""
        return self.origin + len(self.times)

    def __len__(self) -> int:
        return self.polls - self.first

    def append(self, snapshot: Snapshot) -> None:
        """Keep one more poll: of its amounts, those the rules read (:class:`Needs`)."""
        poll = self.polls
        self.times.append(micros(snapshot.taken_at))
        balances = snapshot.balances
        for column in self.columns:
            currency, kind = column.key
            balance = balances.get(currency)
            column.append(poll, getattr(balance, kind) if balance is not None else None)
        wanted = self.needs.currencies
        for currency, balance in balances.items():
            if wanted is not None and currency not in wanted:
                continue
            for kind in self.needs.kinds:
                value = getattr(balance, kind)
                if value is not None and self._column(currency, kind) is None:
                    self.columns.append(Column(_key(currency, kind), poll, value))

    def trim(self, start: datetime) -> None:
        """Forget polls before ``start``, except the latest: the next poll's previous one."""
        size = len(self.times)
        keep = min(self._seek(micros(start)), size - 1)
        if keep <= self.first - self.origin:
            return
        self.first = self.origin + keep
        polls = self.polls
        gone = [column for column in self.columns if not column.trim(self.first, polls)]
        if gone:  # a currency gone for the whole window
            self.columns = [column for column in self.columns if column not in gone]
        if stale(keep, size):
            del self.times[:keep]
            self.origin = self.first

    # ------------------------------------------------------------ the rules' questions

    def _at(self, poll: int) -> datetime:
        return EPOCH + self.times[poll - self.origin] * MICROSECOND

    def _column(self, currency: str, kind: str) -> Column | None:
        kind = KIND_ALIASES.get(kind, kind)
        for column in self.columns:
            if column.key[0] == currency and column.key[1] == kind:
                return column
        return None

    def _seek(self, micros: int) -> int:
        """Where in ``times`` the first kept poll at or after ``micros`` is (the length if
        none): the first kept poll or the next one (trims and most questions start there),
        else a binary search."""
        times, at = self.times, self.first - self.origin
        for _ in range(2):
            if at == len(times) or times[at] >= micros:
                return at
            at += 1
        return bisect_left(times, micros, at)

    def _from(self, start: datetime | None) -> int:
        """The number of the first kept poll at or after ``start``."""
        return self.first if start is None else self.origin + self._seek(micros(start))

    def latest(self, currency: str, kind: str) -> Point | None:
        column = self._column(currency, kind)
        value = column.values[-1] if column is not None else None
        if value is None:  # a column is extended by every poll: its last run holds the latest
            return None
        return self._at(self.polls - 1), value

    def last(self, currency: str, kind: str, since: datetime | None) -> Point | None:
        column = self._column(currency, kind)
        if column is None:
            return None
        run = column.last_valued
        poll = column.end(run, self.polls)
        if poll < self.first:
            return None
        at = self._at(poll)
        if since is not None and at < since:
            return None
        return at, column.values[run - column.base]  # type: ignore[return-value]

    def extreme(
        self, currency: str, kind: str, start: datetime | None, *, highest: bool
    ) -> Point | None:
        column = self._column(currency, kind)
        poll = self._from(start)
        polls = self.polls
        if column is None or poll >= polls:
            return None
        run = column.extreme(column.run_at(poll), highest=highest)
        if run is None:
            return None
        at = column.end(run, polls) if highest else max(column.starts[run - column.base], poll)
        return self._at(at), column.values[run - column.base]  # type: ignore[return-value]

    def spending(self, currency: str, kind: str, start: datetime | None) -> Spending | None:
        column = self._column(currency, kind)
        poll = self._from(start)
        if column is None or poll >= self.polls:
            return None
        run = column.run_at(poll)
        first = max(column.starts[run - column.base], poll)
        if column.value(run) is None:  # runs of None never follow each other
            run += 1
            if run - column.base >= len(column.starts):
                return None
            first = column.starts[run - column.base]
        last = column.last_valued
        spent = column.spent_between(run, last)
        return Spending(self._at(first), spent, column.values[last - column.base])  # type: ignore[arg-type]

    # ------------------------------------------------------------ as snapshots

    def snapshots(self) -> list[Snapshot]:
        """The kept polls as snapshots, oldest first (tests compare them with the store's);
        polls with the same amounts share one dict of balances."""
        keys = [column.key for column in self.columns]
        found: list[Snapshot] = []
        last: list[Decimal | None] | None = None
        balances: dict[str, Balance] = {}
        kept = self.times[self.first - self.origin :]
        for poll, at in enumerate(kept, start=self.first):
            row = [_value_at(column, poll) for column in self.columns]
            if last is None or any(a is not b for a, b in zip(row, last, strict=True)):
                balances, last = _balances(keys, row), row
            found.append(Snapshot(self.plan.name, EPOCH + at * MICROSECOND, balances))
        return found


class Latest:
    """The previous poll alone, for rules that look back no further (no ``within`` nor
    ``window``: two accounts in three in the bench): its time and the amounts they read,
    as ``(key, amount, key, amount, ...)``. A third of a :class:`History` of one poll."""

    __slots__ = ("amounts", "at", "needs", "plan")

    def __init__(self, plan: AccountPlan, needs: Needs) -> None:
        self.plan = plan
        self.needs = needs
        self.at: datetime | None = None
        self.amounts: tuple[tuple[str, str] | Decimal, ...] = ()

    def __len__(self) -> int:
        return 0 if self.at is None else 1

    def append(self, snapshot: Snapshot) -> None:
        wanted = self.needs.currencies
        found: list[tuple[str, str] | Decimal] = []
        for currency, balance in snapshot.balances.items():
            if wanted is None or currency in wanted:
                for kind in self.needs.kinds:
                    value = getattr(balance, kind)
                    if value is not None:
                        found += (_key(currency, kind), value)
        self.at, self.amounts = snapshot.taken_at, tuple(found)

    def trim(self, start: datetime) -> None:
        """Nothing to forget: the previous poll is kept whatever its age."""

    def latest(self, currency: str, kind: str) -> Point | None:
        kind = KIND_ALIASES.get(kind, kind)
        amounts = self.amounts
        for at in range(0, len(amounts), 2):
            key = amounts[at]
            if key[0] == currency and key[1] == kind:  # type: ignore[index]
                return self.at, amounts[at + 1]  # type: ignore[return-value]
        return None

    def last(self, currency: str, kind: str, since: datetime | None) -> Point | None:
        point = self.latest(currency, kind)
        return point if point is not None and (since is None or point[0] >= since) else None

    def extreme(
        self, currency: str, kind: str, start: datetime | None, *, highest: bool
    ) -> Point | None:
        return self.last(currency, kind, start)

    def spending(self, currency: str, kind: str, start: datetime | None) -> Spending | None:
        point = self.last(currency, kind, start)
        return None if point is None else Spending(point[0], ZERO, point[1])

    def snapshots(self) -> list[Snapshot]:
        if self.at is None:
            return []
        keys = self.amounts[::2]
        row: list[Decimal | None] = list(self.amounts[1::2])  # type: ignore[arg-type]
        return [Snapshot(self.plan.name, self.at, _balances(keys, row))]  # type: ignore[arg-type]


_KEYS: dict[tuple[str, str], tuple[str, str]] = {}


def _key(currency: str, kind: str) -> tuple[str, str]:
    """One (currency, kind) tuple, and one currency string, for all accounts."""
    key = (sys.intern(currency), kind)
    return _KEYS.setdefault(key, key)


def _value_at(column: Column, poll: int) -> Decimal | None:
    return column.value(column.run_at(poll)) if column.starts[0] <= poll else None


def _balances(keys: list[tuple[str, str]], row: list[Decimal | None]) -> dict[str, Balance]:
    kinds: dict[str, dict[str, Decimal]] = {}
    for (currency, kind), value in zip(keys, row, strict=True):
        if value is not None:
            kinds.setdefault(currency, {})[kind] = value
    return {currency: Balance(**amounts) for currency, amounts in kinds.items()}
