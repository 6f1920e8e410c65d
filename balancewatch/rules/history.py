"""What rules read of an account's earlier polls: four questions, not a walk over the window.

A rule never iterates the history. It asks :class:`History` for what it needs, about one
amount (a currency and a balance kind) at a time:

- :meth:`~History.latest`: the previous poll's amount, if that poll reported it (the
  threshold's "was ... ago");
- :meth:`~History.last`: the latest poll that reported the amount, since an instant (a
  ``change`` without ``within``: the previous value);
- :meth:`~History.extreme`: the highest (latest of equals) or lowest (earliest of equals)
  amount since an instant (``change``/``held_increase`` with ``within``);
- :meth:`~History.spending`: the sum of decreases between consecutive polls since an
  instant, with the first poll counted and the last amount (``runway``, and the
  threshold's "~N h left" hint).

Polls that did not report the amount are skipped by every question but :meth:`latest`.
Two implementations give the same answers (a property test holds them to it):
:class:`SnapshotHistory` here, a plain list of snapshots for the one-shot commands and the
tests, and the daemon's incremental cache (:mod:`balancewatch.daemon.history`), which
answers in a time that does not grow with the window.

Sums are exact: :data:`EXACT` has the largest precision :mod:`decimal` allows, so adding
amounts never rounds, whatever their digits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from itertools import pairwise
from typing import Protocol

from balancewatch.model import Snapshot

EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
"""Additions and subtractions of amounts without rounding (never used to divide)."""
ZERO = Decimal(0)

Point = tuple[datetime, Decimal]
"""When a poll was made, and the amount it reported."""


@dataclass(frozen=True, slots=True)
class Spending:
    """Decreases of one amount over consecutive polls since an instant."""

    first_at: datetime
    """The first poll counted (the earliest at or after the instant that reported it)."""
    spent: Decimal
    """The sum of every drop from one counted poll to the next (rises count as zero)."""
    last: Decimal
    """The amount of the latest poll counted."""


class History(Protocol):
    """An account's earlier polls as the rules see them (none at or after ``now``)."""

    def latest(self, currency: str, kind: str) -> Point | None:
        """The amount in the previous poll, if it reported one."""

    def last(self, currency: str, kind: str, since: datetime | None) -> Point | None:
        """The latest poll that reported the amount, if it is not before ``since``."""

    def extreme(
        self, currency: str, kind: str, start: datetime | None, *, highest: bool
    ) -> Point | None:
        """The highest amount since ``start`` (the latest of equals), or the lowest (the
        earliest of equals)."""

    def spending(self, currency: str, kind: str, start: datetime | None) -> Spending | None:
        """The decreases since ``start``; None when no poll since then reported it."""


def decrease(earlier: Decimal, later: Decimal) -> Decimal:
    """How much was spent from one poll to the next (zero for a rise), exactly."""
    drop = EXACT.subtract(earlier, later)
    return drop if drop > 0 else ZERO


class SnapshotHistory:
    """:class:`History` over a list of snapshots, oldest first: each question walks it."""

    __slots__ = ("snapshots",)

    def __init__(self, snapshots: Sequence[Snapshot]) -> None:
        self.snapshots = snapshots

    def _points(self, currency: str, kind: str, start: datetime | None) -> Iterator[Point]:
        for snap in self.snapshots:
            if start is not None and snap.taken_at < start:
                continue
            balance = snap.balances.get(currency)
            value = balance.kind(kind) if balance is not None else None
            if value is not None:
                yield snap.taken_at, value

    def latest(self, currency: str, kind: str) -> Point | None:
        if not self.snapshots:
            return None
        previous = self.snapshots[-1]
        balance = previous.balances.get(currency)
        value = balance.kind(kind) if balance is not None else None
        return None if value is None else (previous.taken_at, value)

    def last(self, currency: str, kind: str, since: datetime | None) -> Point | None:
        found = None
        for point in self._points(currency, kind, None):
            found = point
        return found if found is not None and (since is None or found[0] >= since) else None

    def extreme(
        self, currency: str, kind: str, start: datetime | None, *, highest: bool
    ) -> Point | None:
        points = list(self._points(currency, kind, start))
        if not points:
            return None
        pick = max if highest else min
        return pick(points, key=lambda p: (p[1], p[0]))

    def spending(self, currency: str, kind: str, start: datetime | None) -> Spending | None:
        points = list(self._points(currency, kind, start))
        if not points:
            return None
        spent = ZERO
        for (_, earlier), (_, later) in pairwise(points):
            spent = EXACT.add(spent, decrease(earlier, later))
        return Spending(points[0][0], spent, points[-1][1])


__all__ = ["EXACT", "History", "Point", "SnapshotHistory", "Spending", "decrease"]
