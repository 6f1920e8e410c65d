"""The SQLite schema of the state store, its migrations, and how records map to rows.

Only :mod:`balancewatch.state.sqlite` uses this module; it is split out so that the store reads
as "what happens" and this module as "what it looks like on disk": tables, migrations,
value encodings, row codecs and the SQL statements that are more than one line.

Conventions, fixed for every table:

- **Instants** are text, ISO-8601 in UTC with a fixed width
  (``2024-05-01T12:00:00.000000Z``), so text order is time order, indexes work, and an
  operator can read them with the ``sqlite3`` shell. Naive datetimes are refused.
- **Amounts** are decimal strings (``str(Decimal)``), read back with ``Decimal(text)``: exact,
  never through float. Balances are one JSON object per snapshot,
  ``{"DZD": {"available": "950.00", "held": "10"}}``; a kind the provider does not report is
  left out (``None``, which is not zero).
- **Severity** is its integer value (0 info, 1 warning, 2 critical).

The tables themselves and their migrations are :mod:`balancewatch.state.sqlite_migrations`.
"""

# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, cast

from balancewatch.model import Balance, Severity, Snapshot
from balancewatch.records import (
    AlertState,
    AlertStatus,
    Delivery,
    Health,
    Notification,
    NotificationKind,
    Silence,
)
from balancewatch.state.columns import (
    ALERT_COLUMNS,
    DELIVERY_COLUMNS,
    HEALTH_COLUMNS,
    NOTIFICATION_COLUMNS,
)

# ---------------------------------------------------------------- value codecs


def ts(value: datetime) -> str:
    """An aware datetime as fixed-width UTC text (sorts as it compares)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime cannot be stored: {value!r}")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def ts_opt(value: datetime | None) -> str | None:
    return None if value is None else ts(value)


def dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def dt_opt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def dec_opt(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def to_dec_opt(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def encode_balances(balances: Mapping[str, Balance]) -> str:
    data = {
        currency: {
            kind: str(amount)
            for kind in ("available", "pending", "held", "total")
            if (amount := getattr(balance, kind)) is not None
        }
        for currency, balance in balances.items()
    }
    return json.dumps(data, separators=(",", ":"))


def decode_balances(text: str) -> dict[str, Balance]:
    data = cast(dict[str, dict[str, str]], json.loads(text))
    return {
        currency: Balance(**{kind: Decimal(amount) for kind, amount in kinds.items()})
        for currency, kinds in data.items()
    }


# ---------------------------------------------------------------- records <-> rows

SNAPSHOT_COLUMNS = "account, taken_at, balances"

# ---------------------------------------------------------------- statements
# Built only from the constants above; every value is a bound parameter.


def _insert(table: str, columns: str) -> str:
    marks = ", ".join("?" for _ in columns.split(","))
    return f"INSERT INTO {table} ({columns}) VALUES ({marks})"


def _upsert(table: str, columns: str, conflict: str) -> str:
    keys = {c.strip() for c in conflict.split(",")}
    names = [c.strip() for c in columns.split(",")]
    updates = ", ".join(f"{c} = excluded.{c}" for c in names if c not in keys)
    return f"{_insert(table, columns)} ON CONFLICT ({conflict}) DO UPDATE SET {updates}"


INSERT_SNAPSHOT = _insert("snapshots", SNAPSHOT_COLUMNS)
UPSERT_HEALTH = _upsert("health", HEALTH_COLUMNS, "account")
UPSERT_ALERT = _upsert("alerts", ALERT_COLUMNS, "account, key")
INSERT_NOTIFICATION = _insert("notifications", NOTIFICATION_COLUMNS)
INSERT_DELIVERY = _insert("deliveries", DELIVERY_COLUMNS)
PENDING = "delivered_at IS NULL AND gave_up_at IS NULL"  # as the partial index says
DUE = (
    "SELECT d.notification_id, d.channel, d.attempts, d.next_attempt_at, d.delivered_at,"
    " d.gave_up_at, d.last_error, n.id, n.account, n.alert_key, n.kind, n.severity, n.title,"
    " n.body, n.created_at, n.poll_id, n.fields, n.tags"
    f" FROM deliveries d JOIN notifications n ON n.id = d.notification_id WHERE {PENDING}"
    " AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?)"
    " ORDER BY n.created_at, n.rowid, d.channel LIMIT ?"
)
# A skip-scan over the (account, taken_at) index: one probe per account, not per row.
SNAPSHOT_ACCOUNTS = """
    WITH RECURSIVE seen(account) AS (
        SELECT MIN(account) FROM snapshots
        UNION ALL
        SELECT (SELECT MIN(account) FROM snapshots WHERE account > seen.account)
        FROM seen WHERE seen.account IS NOT NULL
    )
    SELECT account FROM seen WHERE account IS NOT NULL"""
PRUNE_SNAPSHOTS = (
    "DELETE FROM snapshots WHERE account = ? AND taken_at < ?"
    " AND taken_at < (SELECT MAX(taken_at) FROM snapshots WHERE account = ?)"
)
PRUNE_NOTIFICATIONS = (
    "DELETE FROM notifications WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM deliveries d"
    f" WHERE d.notification_id = notifications.id AND {PENDING})"
)


Row = Sequence[Any]
AlertKind = Literal["state", "event"]


def snapshot_row(snapshot: Snapshot) -> tuple[str, str, str]:
    return (snapshot.account, ts(snapshot.taken_at), encode_balances(snapshot.balances))


def snapshot_from(row: Row) -> Snapshot:
    return Snapshot(row[0], dt(row[1]), decode_balances(row[2]))


def health_row(h: Health) -> tuple[Any, ...]:
    return (
        h.account,
        h.consecutive_failures,
        h.last_error,
        h.last_error_kind,
        ts_opt(h.last_ok_at),
        ts_opt(h.last_poll_at),
        ts_opt(h.not_before),
        h.config_hash,
    )


def health_from(row: Row) -> Health:
    return Health(
        row[0], row[1], row[2], row[3], dt_opt(row[4]), dt_opt(row[5]), dt_opt(row[6]), row[7]
    )


def alert_row(a: AlertState) -> tuple[Any, ...]:
    notified = None if a.notified_severity is None else int(a.notified_severity)
    return (
        a.account,
        a.key,
        a.rule,
        a.rule_type,
        a.currency,
        a.kind,
        a.status,
        int(a.severity),
        a.summary,
        a.consecutive,
        ts_opt(a.started_at),
        ts_opt(a.last_notified_at),
        notified,
        ts_opt(a.resolved_at),
        dec_opt(a.value),
        dec_opt(a.threshold),
        ts_opt(a.event_ref),
        ts_opt(a.updated_at),
    )


def alert_from(row: Row) -> AlertState:
    return AlertState(
        account=row[0],
        key=row[1],
        rule=row[2],
        rule_type=row[3],
        currency=row[4],
        kind=cast(AlertKind, row[5]),
        status=cast(AlertStatus, row[6]),
        severity=Severity(row[7]),
        summary=row[8],
        consecutive=row[9],
        started_at=dt_opt(row[10]),
        last_notified_at=dt_opt(row[11]),
        notified_severity=None if row[12] is None else Severity(row[12]),
        resolved_at=dt_opt(row[13]),
        value=to_dec_opt(row[14]),
        threshold=to_dec_opt(row[15]),
        event_ref=dt_opt(row[16]),
        updated_at=dt_opt(row[17]),
    )


def notification_row(n: Notification) -> tuple[Any, ...]:
    return (
        n.id,
        n.account,
        n.alert_key,
        n.kind,
        int(n.severity),
        n.title,
        n.body,
        ts(n.created_at),
        n.poll_id,
        json.dumps(dict(n.fields), separators=(",", ":")),
        json.dumps(list(n.tags), separators=(",", ":")),
    )


def notification_from(row: Row) -> Notification:
    return Notification(
        id=row[0],
        account=row[1],
        alert_key=row[2],
        kind=cast(NotificationKind, row[3]),
        severity=Severity(row[4]),
        title=row[5],
        body=row[6],
        created_at=dt(row[7]),
        poll_id=row[8],
        fields=cast(dict[str, str], json.loads(row[9])),
        tags=tuple(cast(list[str], json.loads(row[10]))),
    )


def delivery_row(d: Delivery) -> tuple[Any, ...]:
    return (
        d.notification_id,
        d.channel,
        d.attempts,
        ts_opt(d.next_attempt_at),
        ts_opt(d.delivered_at),
        ts_opt(d.gave_up_at),
        d.last_error,
    )


def delivery_from(row: Row) -> Delivery:
    return Delivery(row[0], row[1], row[2], dt_opt(row[3]), dt_opt(row[4]), dt_opt(row[5]), row[6])


def silence_from(row: Row) -> Silence:
    return Silence(row[0], row[1], row[2], dt(row[3]), dt(row[4]), row[5], row[6])
