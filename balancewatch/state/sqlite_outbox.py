"""The outbox half of :class:`~balancewatch.state.sqlite.SqliteStore`: what to send, to whom,
and what became of each attempt.

Deliveries are either taken as they are due (:meth:`SqliteOutbox.due_deliveries`, one
daemon) or claimed (:meth:`SqliteOutbox.claim_deliveries`): a claim holds a delivery for a
lease measured on SQLite's clock (the host's) and bumps its claim token, which the marks
then present. A failure or a give-up marked with a lost claim (another worker claimed the delivery
since) writes nothing and raises :class:`~balancewatch.state.leases.LeaseLost`: the new
holder owns the retry. A success is written whatever the claim: the message did go out,
and recording it can only prevent a duplicate.
"""

# ruff: noqa: S608

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from balancewatch.records import Delivery, Notification, PendingDelivery
from balancewatch.state import sqlite_schema as schema
from balancewatch.state.columns import NOTIFICATION_COLUMNS
from balancewatch.state.leases import check_lease, delivery_lost
from balancewatch.state.sqlite_open import SqliteAccess

NOW = "strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')"
"""SQLite's clock (the host's), written like every instant in the file (``schema.ts``)."""


def now_plus(param: str) -> str:
    """SQL for SQLite's clock plus ``param`` seconds (a bound parameter), as ``NOW``."""
    return f"strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', printf('%+.3f seconds', {param}))"


_UNCLAIMED = f"(d.claim_until IS NULL OR d.claim_until <= {NOW})"
_CLAIM_DUE = schema.DUE.replace(" FROM deliveries d", ", d.claim_token FROM deliveries d").replace(
    " ORDER BY", f" AND {_UNCLAIMED} ORDER BY"
)
_CLAIM = (
    "UPDATE deliveries SET claim_owner = ?, claim_token = claim_token + 1,"
    f" claim_until = {now_plus('?')} WHERE notification_id = ? AND channel = ?"
)


def _pending(rows: list[Any]) -> list[PendingDelivery]:
    """Rows of ``schema.DUE`` (and a claim token after them, if claimed) as deliveries."""
    notifications: dict[str, Notification] = {}
    due = []
    for row in rows:
        notification = notifications.get(row[7])
        if notification is None:
            notification = notifications[row[7]] = schema.notification_from(row[7:18])
        claim = row[18] + 1 if len(row) > 18 else None
        due.append(PendingDelivery(schema.delivery_from(row[:7]), notification, claim))
    return due


class SqliteOutbox(SqliteAccess):
    """Notifications and their deliveries (mixed into ``SqliteStore``)."""

    def enqueue(
        self, notifications: Sequence[Notification], deliveries: Sequence[Delivery]
    ) -> None:
        """Write notifications made outside a poll (system warnings, notify-test), atomically."""
        notification_rows = [schema.notification_row(n) for n in notifications]
        delivery_rows = [schema.delivery_row(d) for d in deliveries]
        with self._write() as conn:
            conn.executemany(schema.INSERT_NOTIFICATION, notification_rows)
            conn.executemany(schema.INSERT_DELIVERY, delivery_rows)

    def due_deliveries(self, now: datetime, limit: int = 100) -> list[PendingDelivery]:
        """Deliveries to attempt now: pending, not backing off; oldest notification first."""
        return _pending(self._read(schema.DUE, (schema.ts(now), limit)))

    def claim_deliveries(
        self, owner: str, now: datetime, lease_seconds: float, limit: int = 100
    ) -> list[PendingDelivery]:
        """Claim up to ``limit`` due deliveries that nobody holds, for ``lease_seconds``.

        As :meth:`due_deliveries`, but each one returned is held by ``owner`` until its
        lease ends or it is marked, and carries the claim token to mark it with.
        """
        lease = check_lease(lease_seconds)
        with self._write() as conn:
            rows = conn.execute(_CLAIM_DUE, (schema.ts(now), limit)).fetchall()
            conn.executemany(_CLAIM, [(owner, lease, row[0], row[1]) for row in rows])
        return _pending(rows)

    def mark_delivered(
        self, notification_id: str, channel: str, at: datetime, claim: int | None = None
    ) -> None:
        """Record a delivery; marking twice keeps the first time. Unknown keys are ignored.

        Written even if ``claim`` was lost meanwhile: the message went out.
        """
        self._update_delivery("delivered_at = ?", (schema.ts(at),), notification_id, channel, None)

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
        self._update_delivery(
            "attempts = attempts + 1, last_error = ?, next_attempt_at = ?",
            (error, schema.ts(next_attempt_at)),
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
        self._update_delivery(
            "gave_up_at = ?, last_error = ?",
            (schema.ts(at), error),
            notification_id,
            channel,
            claim,
        )

    def _update_delivery(
        self,
        assignments: str,
        values: tuple[Any, ...],
        notification_id: str,
        channel: str,
        claim: int | None,
    ) -> None:
        """Apply ``assignments`` to a pending delivery and release its claim, if ``claim``
        (when given) is still the delivery's; else :class:`LeaseLost`, nothing written."""
        key = (notification_id, channel)
        with self._write() as conn:
            if claim is not None and _claim_token(conn, key) != claim:
                raise delivery_lost(notification_id, channel)
            conn.execute(
                f"UPDATE deliveries SET {assignments}, claim_until = NULL"
                f" WHERE notification_id = ? AND channel = ? AND {schema.PENDING}",
                (*values, *key),
            )

    def outbox_depth(self) -> int:
        """Deliveries neither delivered nor given up (backing-off ones included)."""
        rows = self._read(f"SELECT COUNT(*) FROM deliveries d WHERE {schema.PENDING}")
        return int(rows[0][0])

    def recent_notifications(self, limit: int = 20) -> list[Notification]:
        rows = self._read(
            f"SELECT {NOTIFICATION_COLUMNS} FROM notifications"
            " ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (limit,),
        )
        return [schema.notification_from(row) for row in rows]


def _claim_token(conn: sqlite3.Connection, key: tuple[str, str]) -> int | None:
    row = conn.execute(
        "SELECT claim_token FROM deliveries WHERE notification_id = ? AND channel = ?", key
    ).fetchone()
    return None if row is None else int(row[0])
