"""The PostgreSQL schema of the state store, its migrations, and how records map to rows.

The tables are SQLite's (:mod:`balancewatch.state.sqlite_migrations`), with native types:

- **instants** are ``timestamptz`` (read back in UTC; naive datetimes are refused);
- **amounts** of alerts are ``numeric``, read back as the same Decimals (psycopg loads
  ``numeric`` as :class:`~decimal.Decimal`, never float). A snapshot's balances are one
  ``jsonb`` object whose amounts are decimal *strings*, as in SQLite: a jsonb number is a
  ``numeric``, which would turn ``-0.00`` into ``0.00`` and ``1E+3`` into ``1000``;
- notification ``fields`` and ``tags`` are ``jsonb``; insertion order (SQLite's ``rowid``)
  is an identity column, ``seq``.

Migrations are append-only, versioned in ``schema_version`` (one row), each in its own
transaction with its version bump, under a transaction-scoped advisory lock: two daemons
starting together migrate once, one after the other, and the lock goes with the
transaction (behind PgBouncer's transaction mode a session lock would not).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

import psycopg

from balancewatch.model import Severity, Snapshot, StateError
from balancewatch.records import (
    AlertState,
    AlertStatus,
    Delivery,
    Health,
    Notification,
    NotificationKind,
    Silence,
)
from balancewatch.state.sqlite_schema import decode_balances, encode_balances


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


_PENDING_INDEX = "WHERE delivered_at IS NULL AND gave_up_at IS NULL"
_V1 = Migration(
    1,
    "every table of SQLite's version 3",
    (
        """CREATE TABLE snapshots (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            account text NOT NULL, taken_at timestamptz NOT NULL, balances jsonb NOT NULL)""",
        "CREATE INDEX snapshots_account_time ON snapshots (account, taken_at)",
        """CREATE TABLE health (
            account text PRIMARY KEY, consecutive_failures integer NOT NULL DEFAULT 0,
            last_error text, last_error_kind text, last_ok_at timestamptz,
            last_poll_at timestamptz, not_before timestamptz, config_hash text)""",
        """CREATE TABLE alerts (
            account text NOT NULL, key text NOT NULL,
            rule text NOT NULL, rule_type text NOT NULL, currency text,
            kind text NOT NULL CHECK (kind IN ('state', 'event')),
            status text NOT NULL CHECK (status IN ('pending', 'firing', 'resolved')),
            severity smallint NOT NULL, summary text NOT NULL,
            consecutive integer NOT NULL DEFAULT 0,
            started_at timestamptz, last_notified_at timestamptz, notified_severity smallint,
            resolved_at timestamptz, value numeric, threshold numeric, event_ref timestamptz,
            updated_at timestamptz, PRIMARY KEY (account, key))""",
        "CREATE INDEX alerts_firing ON alerts (account, key) WHERE status = 'firing'",
        """CREATE TABLE notifications (
            seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE, id text PRIMARY KEY,
            account text NOT NULL, alert_key text NOT NULL, kind text NOT NULL,
            severity smallint NOT NULL, title text NOT NULL, body text NOT NULL,
            created_at timestamptz NOT NULL, poll_id text NOT NULL,
            fields jsonb NOT NULL DEFAULT '{}', tags jsonb NOT NULL DEFAULT '[]')""",
        "CREATE INDEX notifications_created ON notifications (created_at, seq)",
        """CREATE TABLE deliveries (
            notification_id text NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
            channel text NOT NULL, attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz, delivered_at timestamptz, gave_up_at timestamptz,
            last_error text, claim_owner text, claim_token bigint NOT NULL DEFAULT 0,
            claim_until timestamptz, PRIMARY KEY (notification_id, channel))""",
        f"CREATE INDEX deliveries_pending ON deliveries (next_attempt_at) {_PENDING_INDEX}",
        """CREATE TABLE silences (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            account text NOT NULL, rule text,
            starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL,
            reason text NOT NULL, created_by text NOT NULL DEFAULT '')""",
        "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)",
        # owner is kept after a release: the next claimer learns who polled it last.
        """CREATE TABLE leases (
            account text PRIMARY KEY, owner text NOT NULL, token bigint NOT NULL,
            claimed_at timestamptz NOT NULL, expires_at timestamptz NOT NULL)""",
        """CREATE TABLE daemons (
            id text PRIMARY KEY, host text NOT NULL, pid integer NOT NULL,
            config_hash text NOT NULL, started_at timestamptz NOT NULL,
            last_heartbeat timestamptz NOT NULL)""",
        # the status page lists one account's notifications
        "CREATE INDEX notifications_account ON notifications (account, created_at, seq)",
    ),
)

_V2 = Migration(
    2,
    "acknowledgements (SQLite's version 4)",
    (
        """CREATE TABLE acknowledgements (
            account text NOT NULL, alert_key text NOT NULL, episode timestamptz NOT NULL,
            severity smallint NOT NULL, acked_at timestamptz NOT NULL,
            acked_by text NOT NULL DEFAULT '', PRIMARY KEY (account, alert_key, episode))""",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (_V1, _V2)
LATEST_VERSION = MIGRATIONS[-1].version
MIGRATION_LOCK = 0x62616C616E6365  # "balance": one key for every balancewatch schema
_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row), version integer NOT NULL)"""


def schema_version(conn: psycopg.Connection[Any]) -> int | None:
    """The schema's version, or None if this database has no balancewatch state."""
    found = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return None
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return 0 if row is None else int(row[0])


def migrate(conn: psycopg.Connection[Any], where: str) -> int:
    """Bring the schema to :data:`LATEST_VERSION`, one migration per transaction; return
    the version found. A newer schema is a :class:`StateError`, left untouched."""
    found: int | None = None
    while True:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute(_VERSION_TABLE)
            current = schema_version(conn) or 0
            found = current if found is None else found
            if current > LATEST_VERSION:
                raise newer_schema(current, where)
            todo = [m for m in MIGRATIONS if m.version > current]
            if not todo:
                return found
            for statement in todo[0].statements:
                conn.execute(statement.encode())
            conn.execute(
                "INSERT INTO schema_version (version) VALUES (%s) ON CONFLICT (only_row)"
                " DO UPDATE SET version = excluded.version",
                (todo[0].version,),
            )


def newer_schema(found: int, where: str) -> StateError:
    return StateError(
        f"state database {where} has schema version {found}, but this balancewatch knows "
        f"versions up to {LATEST_VERSION}: upgrade balancewatch or use another database "
        "(it was left untouched)"
    )


# ---------------------------------------------------------------- records <-> rows


def aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime cannot be stored: {value!r}")
    return value


def aware_opt(value: datetime | None) -> datetime | None:
    return None if value is None else aware(value)


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def utc_opt(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as columns: one array parameter per column for ``unnest`` (one statement
    writes every row)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


def last_per_key(rows: Iterable[tuple[Any, ...]], key_width: int) -> list[tuple[Any, ...]]:
    """The last row for each key (the first ``key_width`` values): one upsert statement may
    not touch a row twice, and in a batch the later poll's state is the one to keep."""
    return list({row[:key_width]: row for row in rows}.values())


def snapshot_row(snapshot: Snapshot) -> tuple[Any, ...]:
    return (snapshot.account, aware(snapshot.taken_at), encode_balances(snapshot.balances))


def snapshot_from(row: Sequence[Any]) -> Snapshot:
    return Snapshot(row[0], utc(row[1]), decode_balances(row[2]))  # balances read as text


def health_row(h: Health) -> tuple[Any, ...]:
    times = (h.last_ok_at, h.last_poll_at, h.not_before)
    return (
        h.account,
        h.consecutive_failures,
        h.last_error,
        h.last_error_kind,
        *(aware_opt(t) for t in times),
        h.config_hash,
    )


def health_from(row: Sequence[Any]) -> Health:
    return Health(
        row[0], row[1], row[2], row[3], utc_opt(row[4]), utc_opt(row[5]), utc_opt(row[6]), row[7]
    )


def alert_row(a: AlertState) -> tuple[Any, ...]:
    notified = None if a.notified_severity is None else int(a.notified_severity)
    return (
        *(a.account, a.key, a.rule, a.rule_type, a.currency, a.kind, a.status),
        *(int(a.severity), a.summary, a.consecutive),
        *(aware_opt(a.started_at), aware_opt(a.last_notified_at), notified),
        *(aware_opt(a.resolved_at), a.value, a.threshold),
        *(aware_opt(a.event_ref), aware_opt(a.updated_at)),
    )


def alert_from(row: Sequence[Any]) -> AlertState:
    return AlertState(
        *(row[0], row[1], row[2], row[3], row[4]),
        kind=cast(Literal["state", "event"], row[5]),
        status=cast(AlertStatus, row[6]),
        severity=Severity(row[7]),
        summary=row[8],
        consecutive=row[9],
        started_at=utc_opt(row[10]),
        last_notified_at=utc_opt(row[11]),
        notified_severity=None if row[12] is None else Severity(row[12]),
        resolved_at=utc_opt(row[13]),
        value=row[14],
        threshold=row[15],
        event_ref=utc_opt(row[16]),
        updated_at=utc_opt(row[17]),
    )


def notification_row(n: Notification) -> tuple[Any, ...]:
    return (
        *(n.id, n.account, n.alert_key, n.kind, int(n.severity), n.title, n.body),
        *(aware(n.created_at), n.poll_id),
        json.dumps(dict(n.fields), separators=(",", ":")),
        json.dumps(list(n.tags), separators=(",", ":")),
    )


def notification_from(row: Sequence[Any]) -> Notification:
    return Notification(
        *(row[0], row[1], row[2]),
        kind=cast(NotificationKind, row[3]),
        severity=Severity(row[4]),
        title=row[5],
        body=row[6],
        created_at=utc(row[7]),
        poll_id=row[8],
        fields=cast(dict[str, str], row[9]),
        tags=tuple(cast(list[str], row[10])),
    )


def delivery_row(d: Delivery) -> tuple[Any, ...]:
    times = (d.next_attempt_at, d.delivered_at, d.gave_up_at)
    return (d.notification_id, d.channel, d.attempts, *(aware_opt(t) for t in times), d.last_error)


def delivery_from(row: Sequence[Any]) -> Delivery:
    return Delivery(
        row[0], row[1], row[2], utc_opt(row[3]), utc_opt(row[4]), utc_opt(row[5]), row[6]
    )


def silence_from(row: Sequence[Any]) -> Silence:
    return Silence(row[0], row[1], row[2], utc(row[3]), utc(row[4]), row[5], row[6])
