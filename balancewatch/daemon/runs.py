"""One amount of one account over its kept polls, as runs: what makes the daemon's history
cost the same whatever the window (:mod:`balancewatch.daemon.history` uses it).

A :class:`Column` holds *runs*: consecutive polls that reported the same amount written
the same way (``1.0`` is not ``1.00``) share one entry, and polls that did not report it
form runs of ``None``. A balance that does not move costs one entry, however long the
window. Per run a column keeps where it starts (the poll's number; it ends where the next
one starts) and its amount (the poll's own Decimal object). Once it has several runs, it
also keeps (:class:`Moves`):

- the sum of decreases from its first valued run up to each run (exact, shared with the
  run before when nothing dropped): the decreases since any instant are one subtraction;
- two monotonic stacks of run numbers: ``highs`` (amounts strictly decreasing, so the
  first one at or after a run is the highest amount from there on, the latest of equals)
  and ``lows`` (amounts never decreasing: the lowest from there on, the earliest of
  equals). A question about "since an instant" is a binary search in the poll times,
  then in a stack.

Appending a poll is amortized constant time, and so is dropping the polls that left the
window (arrays are compacted once half of them is behind).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from decimal import Decimal

from balancewatch.rules.history import EXACT, ZERO, decrease


def same(value: Decimal | None, run: Decimal | None) -> bool:
    """Whether a poll continues a run: no amount after none, or the same amount written
    the same way (``compare_total``: 1.0 is not 1.00, so messages quote each as written)."""
    if value is None or run is None:
        return value is run
    return value is run or value.compare_total(run) == 0


COMPACT = 16
"""Entries left behind at the front of an array before it is compacted (and only once
they are half of it): dropping one poll at a time would move the whole window each time."""


def stale(count: int, size: int) -> bool:
    """Whether ``count`` entries behind, of ``size``, are worth compacting away."""
    return count >= COMPACT and 2 * count >= size


class Moves:
    """What a column of several runs keeps besides them: per run, the decreases up to it
    (``spent``); the run numbers of the ``highs`` and ``lows`` stacks, and in each the place
    of the first entry at or after the head run (where most questions start)."""

    __slots__ = ("high", "highs", "low", "lows", "spent")

    def __init__(self) -> None:
        self.spent: list[Decimal] = [ZERO]
        self.highs = array("q", [0])
        self.lows = array("q", [0])
        self.high = 0
        self.low = 0


class Column:
    """One amount of one account, as runs of polls (see the module docstring)."""

    __slots__ = ("base", "head", "key", "last_valued", "moves", "starts", "values")

    def __init__(self, key: tuple[str, str], poll: int, value: Decimal) -> None:
        self.key = key
        """(currency, kind), one tuple for every account."""
        self.base = 0
        """The run number of ``starts[0]``: numbers stay valid when runs are dropped."""
        self.head = 0
        """The run holding the first kept poll (runs before it wait to be compacted)."""
        self.starts = array("q", [poll])
        self.values: list[Decimal | None] = [value]
        self.last_valued = 0
        self.moves: Moves | None = None
        """None while the column is one run (with an amount): it answers from that run."""

    def append(self, poll: int, value: Decimal | None) -> None:
        if same(value, self.values[-1]):
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
        moves.high = min(moves.high, len(highs) - 1)
        while lows and values[lows[-1] - base] > value:  # type: ignore[operator]
            lows.pop()
        lows.append(run)
        moves.low = min(moves.low, len(lows) - 1)
        self.last_valued = run

    def value(self, run: int) -> Decimal | None:
        return self.values[run - self.base]

    def trim(self, first: int, polls: int) -> bool:
        """Forget the runs that end before poll ``first`` (of ``polls`` appended); False
        if none that reported the amount is left."""
        if self.end(self.last_valued, polls) < first:
            return False
        self.head = self.run_at(first)
        moves = self.moves
        if moves is None:
            return True
        # The last valued run, at or after the head, is on both stacks: these stop.
        while moves.highs[moves.high] < self.head:
            moves.high += 1
        while moves.lows[moves.low] < self.head:
            moves.low += 1
        behind = self.head - self.base
        if stale(behind, len(self.starts)):
            del self.starts[:behind], self.values[:behind], moves.spent[:behind]
            self.base = self.head
            del moves.highs[: moves.high], moves.lows[: moves.low]
            moves.high = moves.low = 0
        return True

    def extreme(self, run: int, *, highest: bool) -> int | None:
        """The run of the highest (lowest) amount from ``run`` on."""
        moves = self.moves
        if moves is None:  # one run, with an amount
            return self.base
        stack, at = (moves.highs, moves.high) if highest else (moves.lows, moves.low)
        if stack[at] < run:
            at = bisect_left(stack, run, at)
        return stack[at] if at < len(stack) else None

    def spent_between(self, first: int, last: int) -> Decimal:
        """The decreases from run ``first`` to run ``last`` (both with an amount), exactly."""
        if self.moves is None:
            return ZERO
        spent = self.moves.spent
        return EXACT.subtract(spent[last - self.base], spent[first - self.base])

    def run_at(self, poll: int) -> int:
        """The number of the run that holds ``poll`` (the first run if it starts later):
        the head run or the next one, else a binary search."""
        starts, at = self.starts, self.head - self.base
        if starts[at] <= poll:
            for _ in range(2):
                if at + 1 == len(starts) or poll < starts[at + 1]:
                    return self.base + at
                at += 1
            return self.base + bisect_right(starts, poll, at) - 1
        return self.base + max(bisect_right(starts, poll, 0, at) - 1, 0)

    def end(self, run: int, polls: int) -> int:
        """The last poll of ``run``, when ``polls`` polls have been appended in all."""
        following = run + 1 - self.base
        return self.starts[following] - 1 if following < len(self.starts) else polls - 1
