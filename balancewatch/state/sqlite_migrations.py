"""The SQLite schema's versions: append-only migrations, each one transaction.

A released migration is never edited, a change is a new one. Each runs in its own
transaction together with its ``PRAGMA user_version`` bump, so a crash mid-migration leaves
the previous version intact. Column encodings are :mod:`balancewatch.state.sqlite_schema`'s.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


_V1 = Migration(
    1,
    "initial tables",
    (
        """CREATE TABLE snapshots (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            taken_at TEXT NOT NULL,
            balances TEXT NOT NULL
        )""",
        """CREATE TABLE health (
            account TEXT PRIMARY KEY,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            last_error TEXT, last_error_kind TEXT,
            last_ok_at TEXT, last_poll_at TEXT, not_before TEXT, config_hash TEXT
        )""",
        """CREATE TABLE alerts (
            account TEXT NOT NULL, key TEXT NOT NULL,
            rule TEXT NOT NULL, rule_type TEXT NOT NULL, currency TEXT,
            kind TEXT NOT NULL CHECK (kind IN ('state', 'event')),
            status TEXT NOT NULL CHECK (status IN ('pending', 'firing', 'resolved')),
            severity INTEGER NOT NULL, summary TEXT NOT NULL,
            consecutive INTEGER NOT NULL DEFAULT 0,
            started_at TEXT, last_notified_at TEXT, notified_severity INTEGER,
            resolved_at TEXT, value TEXT, threshold TEXT, event_ref TEXT, updated_at TEXT,
            PRIMARY KEY (account, key)
        )""",
        "CREATE INDEX alerts_status ON alerts (status)",
        """CREATE TABLE notifications (
            id TEXT PRIMARY KEY,
            account TEXT NOT NULL, alert_key TEXT NOT NULL, kind TEXT NOT NULL,
            severity INTEGER NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL,
            created_at TEXT NOT NULL, poll_id TEXT NOT NULL,
            fields TEXT NOT NULL DEFAULT '{}', tags TEXT NOT NULL DEFAULT '[]'
        )""",
        "CREATE INDEX notifications_created ON notifications (created_at)",
        """CREATE TABLE deliveries (
            notification_id TEXT NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
            channel TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT, delivered_at TEXT, gave_up_at TEXT, last_error TEXT,
            PRIMARY KEY (notification_id, channel)
        )""",
        # Only undelivered rows are ever searched, and there are few of them: a partial
        # index keeps due_deliveries() and outbox_depth() cheap however long the history.
        """CREATE INDEX deliveries_pending ON deliveries (next_attempt_at)
            WHERE delivered_at IS NULL AND gave_up_at IS NULL""",
        """CREATE TABLE silences (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            account TEXT NOT NULL, rule TEXT,
            starts_at TEXT NOT NULL, ends_at TEXT NOT NULL,
            reason TEXT NOT NULL, created_by TEXT NOT NULL DEFAULT ''
        )""",
    ),
)

_V2 = Migration(
    2,
    "snapshot lookup index; meta table",
    (
        "CREATE INDEX snapshots_account_time ON snapshots (account, taken_at)",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
)

_V3 = Migration(
    3,
    "leases and fencing tokens, delivery claims, daemons (balancewatch.state.leases)",
    (
        # owner is kept after a release: the next claimer learns who polled it last.
        """CREATE TABLE leases (
            account TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            token INTEGER NOT NULL,
            claimed_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )""",
        "ALTER TABLE deliveries ADD COLUMN claim_owner TEXT",
        "ALTER TABLE deliveries ADD COLUMN claim_token INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE deliveries ADD COLUMN claim_until TEXT",
        """CREATE TABLE daemons (
            id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            config_hash TEXT NOT NULL,
            started_at TEXT NOT NULL,
            last_heartbeat TEXT NOT NULL
        )""",
        # the status page lists one account's notifications
        "CREATE INDEX notifications_account ON notifications (account, created_at)",
    ),
)

_V4 = Migration(
    4,
    "acknowledgements: who has seen which episode of an alert",
    (
        """CREATE TABLE acknowledgements (
            account TEXT NOT NULL, alert_key TEXT NOT NULL, episode TEXT NOT NULL,
            severity INTEGER NOT NULL, acked_at TEXT NOT NULL, acked_by TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (account, alert_key, episode)
        )""",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (_V1, _V2, _V3, _V4)
LATEST_VERSION = MIGRATIONS[-1].version


def user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def apply_migration(conn: sqlite3.Connection, migration: Migration) -> None:
    """Run one migration and bump ``user_version``, in the caller's open transaction."""
    for statement in migration.statements:
        conn.execute(statement)
    # PRAGMA takes no parameters; the version is an int from this module, never input.
    conn.execute(f"PRAGMA user_version = {int(migration.version)}")
