"""The PostgreSQL store's reads for the status page: latest snapshots at once, chart series,
one account's notifications, failures per account. A mixin of
:class:`~balancewatch.state.postgres.PostgresStore`, twin of :mod:`.sqlite_reads`.

A series reads one amount per snapshot out of its ``jsonb`` as text (``->>``: the decimal
string as written, never a JSON number, which would be a float-like ``numeric``), and
:func:`~balancewatch.state.series.buckets` keeps each span's extremes as Decimals.
"""

# SQL here is built only from this module's constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from balancewatch.model import Snapshot
from balancewatch.records import Bucket, Notification
from balancewatch.state import postgres_schema as schema
from balancewatch.state.columns import NOTIFICATION_COLUMNS
from balancewatch.state.postgres_open import PgAccess
from balancewatch.state.series import buckets as to_buckets

_LATEST = (
    "SELECT s.account, s.taken_at, s.balances::text FROM unnest(%s::text[]) AS a(account)"
    " CROSS JOIN LATERAL (SELECT account, taken_at, balances FROM snapshots"
    "  WHERE snapshots.account = a.account ORDER BY taken_at DESC, id DESC LIMIT 1) AS s"
)
_SERIES = (
    "SELECT taken_at, balances -> %s ->> %s FROM snapshots"
    " WHERE account = %s AND taken_at >= %s AND taken_at < %s ORDER BY taken_at, id"
)
_AFTER_ALL = datetime.max.replace(tzinfo=UTC)


class PgReads(PgAccess):
    def last_snapshots(self, accounts: Sequence[str]) -> dict[str, Snapshot]:
        """The latest snapshot of each of ``accounts`` that has one: one query, one index
        probe per account."""
        if not accounts:
            return {}
        rows = self._read(_LATEST, (list(accounts),))
        return {row[0]: schema.snapshot_from(row) for row in rows}

    def failures(self) -> dict[str, int]:
        """Failed polls in a row per account with a health row (0: its last poll was good)."""
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
        """As :meth:`SqliteReads.series`: each span's lowest and highest amount, oldest first."""
        if buckets < 1 or until <= since:
            return []
        span = (until - since) / buckets
        ends = [schema.aware(since + span * (i + 1)) for i in range(buckets - 1)]
        window = (schema.aware(since), schema.aware(until))
        rows = self._read(_SERIES, (currency, kind, account, *window))
        return to_buckets(rows, [*ends, _AFTER_ALL], since, span, schema.utc)

    def notifications_of(self, account: str, limit: int = 20) -> list[Notification]:
        """The latest notifications about one account, newest first."""
        rows = self._read(
            f"SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE account = %s"
            " ORDER BY created_at DESC, seq DESC LIMIT %s",
            (account, limit),
        )
        return [schema.notification_from(row) for row in rows]
