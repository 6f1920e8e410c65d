"""The daemon's history of one account: what its rules read, kept so that a question costs
the same whatever the window.

:class:`History` answers the rules' questions (:class:`balancewatch.rules.history.History`)
from :class:`Column`\\ s, one per amount the rules read (a currency and a balance kind).
A column holds *runs*: consecutive polls that reported the same amount written the same
way (``1.0`` is not ``1.00``) share one entry, and polls that did not report it form runs
of ``None``. A balance that does not move costs one entry, however long the window. Per
run a column keeps:

- where it starts (the poll's number; it ends where the next one starts);
- its amount, the poll's own Decimal object;
- the sum of decreases from the column's first valued run up to it (exact, shared with
  the run before when nothing dropped): the decreases since any instant are one
  subtraction;
- and two monotonic stacks of run numbers: ``highs`` (amounts strictly decreasing, so the
  first one at or after a run is the highest amount from there on, the latest of equals)
  and ``lows`` (amounts never decreasing: the lowest from there on, the earliest of
  equals). A question about "since an instant" is a binary search in the poll times, then
  in a stack.

The sums and the stacks are made when a column gets its second run: most amounts do not
move from one poll to the next, and a column of one run answers from that run alone.
Appending a poll is amortized constant time, and so is dropping the polls that left the
window (arrays are compacted once half of them is behind).
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from balancewatch.model import KIND_ALIASES, Balance, Snapshot
from balancewatch.poll.plan import AccountPlan
from balancewatch.rules.history import EXACT, ZERO, Point, Spending, decrease
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
        for entry in plan.rules.entries:
            spec = entry.spec
            kind = spec.kind if isinstance(spec, HeldIncreaseRule) else spec.balance
            kinds.add(KIND_ALIASES.get(kind, kind))
            if spec.currency is None or currencies is None:
                currencies = None
            else:
                currencies.add(spec.currency)
        chosen = None if currencies is None else frozenset(currencies)
        return cls(plan.history_window, tuple(sorted(kinds)), chosen)


def micros(at: datetime) -> int:
    return (at - EPOCH) // MICROSECOND


def _same(value: Decimal | None, run: Decimal | None) -> bool:
    """Whether a poll continues a run: no amount after none, or the same amount written
    the same way (``compare_total``: 1.0 is not 1.00, so messages quote each as written)."""
    if value is None or run is None:
        return value is run
    return value is run or value.compare_total(run) == 0


COMPACT = 16
"""Entries left behind at the front of an array before it is compacted (and only once
they are half of it): dropping one poll at a time would move the whole window each time."""


def _stale(count: int, size: int) -> bool:
    return count >= COMPACT and 2 * count >= size


class Moves:
    """What a column of several runs keeps besides them: per run, the decreases up to it
    (``spent``), and the run numbers of the ``highs`` and ``lows`` stacks."""

    __slots__ = ("highs", "lows", "spent")

    def __init__(self) -> None:
        self.spent: list[Decimal] = [ZERO]
        self.highs = array("q", [0])
        self.lows = array("q", [0])


class Column:
    """One amount of one account, as runs of polls (see the module docstring)."""

    __slots__ = ("base", "key", "last_valued", "moves", "starts", "values")

    def __init__(self, key: tuple[str, str], poll: int, value: Decimal) -> None:
        self.key = key
        """(currency, kind), one tuple for every account."""
        self.base = 0
        """The run number of ``starts[0]``: numbers stay valid when runs are dropped."""
        self.starts = array("q", [poll])
        self.values: list[Decimal | None] = [value]
        self.last_valued = 0
        self.moves: Moves | None = None
        """None while the column is one run (with an amount): it answers from that run."""

    def append(self, poll: int, value: Decimal | None) -> None:
        if _same(value, self.values[-1]):
            return
        moves = self.moves
        if moves is None:
            moves = self.moves = Moves()
        run = self.base + len(self.starts)
        self.starts.append(poll)
        self.values.append(value)
        spent = moves.spent
        before = spent[-1]
        if value is None:
            spent.append(before)
            return
        previous = self.values[self.last_valued - self.base]
        drop = decrease(previous, value) if previous is not None else ZERO
        spent.append(EXACT.add(before, drop) if drop else before)
        highs, lows, values, base = moves.highs, moves.lows, self.values, self.base
        while highs and values[highs[-1] - base] <= value:  # type: ignore[operator]
            highs.pop()
        highs.append(run)
        while lows and values[lows[-1] - base] > value:  # type: ignore[operator]
            lows.pop()
        lows.append(run)
        self.last_valued = run

    def value(self, run: int) -> Decimal | None:
        return self.values[run - self.base]

    def trim(self, first: int, polls: int) -> bool:
        """Forget the runs that end before poll ``first`` (of ``polls`` appended); False
        if none that reported the amount is left."""
        if self.end(self.last_valued, polls) < first:
            return False
        stale = bisect_right(self.starts, first) - 1
        moves = self.moves
        if moves is not None and _stale(stale, len(self.starts)):
            del self.starts[:stale], self.values[:stale], moves.spent[:stale]
            self.base += stale
            del moves.highs[: bisect_left(moves.highs, self.base)]
            del moves.lows[: bisect_left(moves.lows, self.base)]
        return True

    def extreme(self, run: int, *, highest: bool) -> int | None:
        """The run of the highest (lowest) amount from ``run`` on."""
        if self.moves is None:  # one run, with an amount
            return self.base
        stack = self.moves.highs if highest else self.moves.lows
        found = bisect_left(stack, run)
        return stack[found] if found < len(stack) else None

    def spent_between(self, first: int, last: int) -> Decimal:
        """The decreases from run ``first`` to run ``last`` (both with an amount), exactly."""
        if self.moves is None:
            return ZERO
        spent = self.moves.spent
        return EXACT.subtract(spent[last - self.base], spent[first - self.base])

    def run_at(self, poll: int) -> int:
        """The number of the run that holds ``poll`` (the first run if it starts later)."""
        return self.base + max(bisect_right(self.starts, poll) - 1, 0)

    def end(self, run: int, polls: int) -> int:
        """The last poll of ``run``, when ``polls`` polls have been appended in all."""
        following = run + 1 - self.base
        return self.starts[following] - 1 if following < len(self.starts) else polls - 1


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
        keep = min(bisect_left(self.times, micros(start), self.first - self.origin), size - 1)
        if keep <= self.first - self.origin:
            return
        self.first = self.origin + keep
        polls = self.polls
        gone = [column for column in self.columns if not column.trim(self.first, polls)]
        if gone:  # a currency gone for the whole window
            self.columns = [column for column in self.columns if column not in gone]
        if _stale(keep, size):
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

    def _from(self, start: datetime | None) -> int:
        """The number of the first kept poll at or after ``start``."""
        if start is None:
            return self.first
        return self.origin + bisect_left(self.times, micros(start), self.first - self.origin)

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
