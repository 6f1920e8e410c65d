"""The outbox half of :class:`~balancewatch.state.postgres.PostgresStore`.

Claims are a job queue's (procrastinate and pgqueuer fetch jobs the same way): the due rows
are locked ``FOR UPDATE SKIP LOCKED`` in the order they are to be sent, so two workers
claiming at once get disjoint sets and neither waits, and each claimed row gets the owner,
a lease on the database's clock and a bumped claim token, in the same statement. The marks
follow :mod:`balancewatch.state.sqlite_outbox`'s rules: a failure or give-up with a lost
claim writes nothing and raises :class:`~balancewatch.state.leases.LeaseLost`; a success is
written whatever the claim.
"""

# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from balancewatch.records import Delivery, Notification, PendingDelivery
from balancewatch.state import postgres_schema as schema
from balancewatch.state.columns import DELIVERY_COLUMNS, NOTIFICATION_COLUMNS
from balancewatch.state.leases import check_lease, delivery_lost
from balancewatch.state.postgres_open import PgAccess

INSERT_NOTIFICATIONS = (
    f"INSERT INTO notifications ({NOTIFICATION_COLUMNS}) SELECT * FROM unnest(%s::text[],"
    " %s::text[], %s::text[], %s::text[], %s::smallint[], %s::text[], %s::text[],"
    " %s::timestamptz[], %s::text[], %s::jsonb[], %s::jsonb[])"
)
INSERT_DELIVERIES = (
    f"INSERT INTO deliveries ({DELIVERY_COLUMNS}) SELECT * FROM unnest(%s::text[], %s::text[],"
    " %s::int[], %s::timestamptz[], %s::timestamptz[], %s::timestamptz[], %s::text[])"
)
PENDING = "d.delivered_at IS NULL AND d.gave_up_at IS NULL"  # as the partial index says
_JOINED = ", ".join(
    [*(f"d.{c.strip()}" for c in DELIVERY_COLUMNS.split(",")), *(
        f"n.{c.strip()}" for c in NOTIFICATION_COLUMNS.split(",")
    )]
)  # fmt: skip
_DUE_WHERE = f"{PENDING} AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= %(now)s)"
_ORDER = "ORDER BY n.created_at, n.seq, d.channel"
DUE = (
    f"SELECT {_JOINED} FROM deliveries d JOIN notifications n ON n.id = d.notification_id"
    f" WHERE {_DUE_WHERE} {_ORDER} LIMIT %(limit)s"
)
CLAIM = f"""
    WITH due AS (
        SELECT d.notification_id, d.channel
        FROM deliveries d JOIN notifications n ON n.id = d.notification_id
        WHERE {_DUE_WHERE} AND (d.claim_until IS NULL OR d.claim_until <= now())
        {_ORDER} LIMIT %(limit)s
        FOR UPDATE OF d SKIP LOCKED
    ), d AS (
        UPDATE deliveries c SET claim_owner = %(owner)s, claim_token = c.claim_token + 1,
            claim_until = now() + %(lease)s * interval '1 second'
        FROM due WHERE c.notification_id = due.notification_id AND c.channel = due.channel
        RETURNING c.*
    )
    SELECT {_JOINED}, d.claim_token FROM d JOIN notifications n ON n.id = d.notification_id
    {_ORDER}"""
_MARK = (
    "UPDATE deliveries d SET {assignments}, claim_until = NULL"
    f" WHERE d.notification_id = %(id)s AND d.channel = %(channel)s AND {PENDING}"
)


def _pending(rows: list[Any]) -> list[PendingDelivery]:
    notifications: dict[str, Notification] = {}
    due = []
    for row in rows:
        notification = notifications.get(row[7])
        if notification is None:
            notification = notifications[row[7]] = schema.notification_from(row[7:18])
        claim = row[18] if len(row) > 18 else None
        due.append(PendingDelivery(schema.delivery_from(row[:7]), notification, claim))
    return due


class PgOutbox(PgAccess):
    """Notifications and their deliveries (mixed into ``PostgresStore``)."""

    def enqueue(
        self, notifications: Sequence[Notification], deliveries: Sequence[Delivery]
    ) -> None:
        """Write notifications made outside a poll (system warnings, notify-test), atomically."""
        notes = [schema.notification_row(n) for n in notifications]
        rows = [schema.delivery_row(d) for d in deliveries]
        with self._write() as conn:
            if notes:
                conn.execute(INSERT_NOTIFICATIONS.encode(), schema.columns(notes, 11))
            if rows:
                conn.execute(INSERT_DELIVERIES.encode(), schema.columns(rows, 7))

    def due_deliveries(self, now: datetime, limit: int = 100) -> list[PendingDelivery]:
        """Deliveries to attempt now: pending, not backing off; oldest notification first."""
        return _pending(self._read(DUE, {"now": schema.aware(now), "limit": limit}))

    def claim_deliveries(
        self, owner: str, now: datetime, lease_seconds: float, limit: int = 100
    ) -> list[PendingDelivery]:
        """Claim up to ``limit`` due deliveries nobody holds, for ``lease_seconds`` (one
        statement); each carries the claim token to mark it with."""
        params = {
            "owner": owner,
            "now": schema.aware(now),
            "lease": check_lease(lease_seconds),
            "limit": limit,
        }
        return _pending(self._run(CLAIM, params))

    def mark_delivered(
        self, notification_id: str, channel: str, at: datetime, claim: int | None = None
    ) -> None:
        """Record a delivery; marking twice keeps the first time. Unknown keys are ignored.

        Written even if ``claim`` was lost meanwhile: the message went out.
        """
        self._mark("delivered_at = %(at)s", {"at": schema.aware(at)}, notification_id, channel)

    def mark_failed(
        self,
        notification_id: str,
        channel: str,
        error: str,
        next_attempt_at: datetime,
        claim: int | None = None,
    ) -> None:
        """Count a failed attempt and schedule the next one (no-op once delivered/given up;
        :class:`LeaseLost` if ``claim`` was lost)."""
        self._mark(
            "attempts = d.attempts + 1, last_error = %(error)s, next_attempt_at = %(at)s",
            {"error": error, "at": schema.aware(next_attempt_at)},
            notification_id,
            channel,
            claim,
        )

    def mark_gave_up(
        self,
        notification_id: str,
        channel: str,
        error: str,
        at: datetime,
        claim: int | None = None,
    ) -> None:
        """Stop retrying a delivery. Does not count an attempt (see :meth:`mark_failed`)."""
        self._mark(
            "gave_up_at = %(at)s, last_error = %(error)s",
            {"error": error, "at": schema.aware(at)},
            notification_id,
            channel,
            claim,
        )

    def _mark(
        self,
        assignments: str,
        values: dict[str, Any],
        notification_id: str,
        channel: str,
        claim: int | None = None,
    ) -> None:
        params = {**values, "id": notification_id, "channel": channel, "claim": claim}
        sql = _MARK.format(assignments=assignments)
        if claim is None:
            self._run(sql, params)
            return
        (count,) = self._run(sql + " AND d.claim_token = %(claim)s", params)
        if count == 0:  # lost, or nothing to mark: only a lost claim is an error
            current = self._read(
                "SELECT claim_token FROM deliveries WHERE notification_id = %(id)s"
                " AND channel = %(channel)s",
                params,
            )
            if not current or current[0][0] != claim:
                raise delivery_lost(notification_id, channel)

    def outbox_depth(self) -> int:
        """Deliveries neither delivered nor given up (backing-off ones included)."""
        rows = self._read(f"SELECT count(*) FROM deliveries d WHERE {PENDING}")
        return int(rows[0][0])

    def recent_notifications(self, limit: int = 20) -> list[Notification]:
        rows = self._read(
            f"SELECT {NOTIFICATION_COLUMNS} FROM notifications"
            " ORDER BY created_at DESC, seq DESC LIMIT %s",
            (limit,),
        )
        return [schema.notification_from(row) for row in rows]
