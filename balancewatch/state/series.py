"""Downsampling one amount over time into equal spans (the status page's charts), for every
backend: the rows come from the database in time order, already narrowed to one amount."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from balancewatch.records import Bucket

T = TypeVar("T", str, datetime)
"""An instant as the backend returns it: SQLite's fixed-width text compares like time."""


def buckets(
    rows: Sequence[tuple[T, str | None]],
    ends: Sequence[T],
    since: datetime,
    span: timedelta,
    when: Callable[[T], datetime],
) -> list[Bucket]:
    """Lowest and highest per span, from rows in time order. A run of the same amount
    (written the same way) is compared once: balances mostly stay as they were."""
    found: list[Bucket] = []
    index, end = 0, ends[0]
    low = high = Decimal(0)
    low_at = high_at = ends[0]
    polls = 0
    previous: str | None = None
    for at, text in rows:
        if at >= end:
            if polls:
                found.append(
                    Bucket(since + span * index, polls, low, when(low_at), high, when(high_at))
                )
            while at >= end:
                index += 1
                end = ends[index]
            polls, previous = 0, None
        if text is None:
            continue
        if polls and text == previous:
            polls += 1
            continue
        value = Decimal(text)
        previous = text
        if not polls:
            low = high = value
            low_at = high_at = at
        elif value < low:
            low, low_at = value, at
        elif value > high:
            high, high_at = value, at
        polls += 1
    if polls:
        found.append(Bucket(since + span * index, polls, low, when(low_at), high, when(high_at)))
    return found
