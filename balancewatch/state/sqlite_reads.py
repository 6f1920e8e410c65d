"""The SQLite store's reads for the status page: latest snapshots at once, chart series,
one account's notifications. A mixin of :class:`~balancewatch.state.sqlite.SqliteStore`.

A chart's series is downsampled here, not in the page: a 30-day chart of a 1-minute poll
is 43,200 snapshots, and only a few hundred points can be drawn. SQLite picks the one
amount out of each snapshot's JSON (``json_extract``, about 1 µs a row), and Python keeps
the lowest and highest of each time bucket, compared as Decimals. Measured on 43,200
snapshots (docs/web.md): that is faster than letting SQLite group them (two passes, one
for the lowest and one for the highest, with a ``REAL`` cast to compare), and exact.
"""

# SQL here is built only from this module's constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from balancewatch.model import Snapshot
from balancewatch.records import Bucket, Notification
from balancewatch.state import sqlite_schema as schema
from balancewatch.state.columns import NOTIFICATION_COLUMNS
from balancewatch.state.series import buckets as to_buckets

_LATEST = (
    f"SELECT {schema.SNAPSHOT_COLUMNS} FROM snapshots WHERE id IN ("
    " SELECT (SELECT id FROM snapshots WHERE account = a.value"
    "  ORDER BY taken_at DESC, id DESC LIMIT 1) FROM json_each(?) a)"
)
_SERIES = (
    "SELECT taken_at, json_extract(balances, ?) FROM snapshots"
    " WHERE account = ? AND taken_at >= ? AND taken_at < ? ORDER BY taken_at, id"
)
_SERIES_JSON = (
    "SELECT taken_at, balances FROM snapshots"
    " WHERE account = ? AND taken_at >= ? AND taken_at < ? ORDER BY taken_at, id"
)
_AFTER_ALL = "~"  # sorts after every instant's text


class SqliteReads:
    """Reads over many rows at once; ``_read`` is the store's locked query."""

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def last_snapshots(self, accounts: Sequence[str]) -> dict[str, Snapshot]:
        """The latest snapshot of each of ``accounts`` that has one: one query, one index
        probe per account (10,000 accounts in one page view)."""
        rows = self._read(_LATEST, (json.dumps(list(accounts)),))
        return {row[0]: schema.snapshot_from(row) for row in rows}

    def failures(self) -> dict[str, int]:
        """Failed polls in a row per account with a health row (0: its last poll was good):
        what the overview sorts 10,000 accounts by, without decoding 10,000 health rows."""
        rows = self._read("SELECT account, consecutive_failures FROM health")
        return {row[0]: int(row[1]) for row in rows}

    def series(
        self,
        account: str,
        currency: str,
        kind: str,
        since: datetime,
        until: datetime,
        buckets: int,
    ) -> list[Bucket]:
        """One amount of one account over ``since <= taken_at < until``, cut into ``buckets``
        equal spans of time: for each span with polls, its lowest and highest amount and
        when they were read. Oldest first; spans without a reported amount are left out."""
        if buckets < 1 or until <= since:
            return []
        span = (until - since) / buckets
        ends = [schema.ts(since + span * (i + 1)) for i in range(buckets - 1)] + [_AFTER_ALL]
        window = (schema.ts(since), schema.ts(until))
        if '"' in currency or '"' in kind:  # a JSON path cannot quote these: decode rows
            rows = [
                (at, json.loads(text).get(currency, {}).get(kind))
                for at, text in self._read(_SERIES_JSON, (account, *window))
            ]
        else:
            rows = self._read(_SERIES, (f'$."{currency}"."{kind}"', account, *window))
        return to_buckets(rows, ends, since, span, schema.dt)

    def notifications_of(self, account: str, limit: int = 20) -> list[Notification]:
        """The latest notifications about one account, newest first."""
        rows = self._read(
            f"SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE account = ?"
            " ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (account, limit),
        )
        return [schema.notification_from(row) for row in rows]
