"""The SQLite state store: history, alert lifecycles, the outbox, silences.

:class:`SqliteStore` implements :class:`balancewatch.records.Store` with the standard
library's ``sqlite3``; nothing else in balancewatch talks to the database. The schema
(see :mod:`balancewatch.state.sqlite_schema` for columns and encodings)::

    snapshots      id, account, taken_at, balances JSON     history, index (account, taken_at)
    health         account PK                                polling health per account
    alerts         (account, key) PK                         one lifecycle per alert key
    notifications  id PK, ..., fields JSON, tags JSON        the outbox: what to say
    deliveries     (notification_id, channel) PK             the outbox: to whom, retried
    silences       id AUTOINCREMENT                          muted accounts/rules
    meta           key PK, value                             small daemon facts

Versioned by ``PRAGMA user_version`` and the append-only migrations in :mod:`.sqlite_migrations`.

Durability: journal_mode=WAL so readers (``balancewatch status``) never block the daemon's
writes, and ``synchronous=FULL`` so every commit is fsynced: writes are rare (one per
poll, one per delivery), and a "delivered" mark must survive a power loss, or the alert
would be sent again. Each :meth:`SqliteStore.commit_poll` is one ``BEGIN IMMEDIATE``
transaction: a crash leaves the poll either fully written or not at all, which is what
lets the outbox lose nothing.

Failure modes are reported, never crashed on:

- a corrupt file (``PRAGMA quick_check`` fails, or "file is not a database") is moved
  aside to ``<name>.corrupt-<UTC time>`` with its ``-wal``/``-shm``, the store starts empty
  and :attr:`SqliteStore.reset_reason` says so (the caller sends the warning);
- a write still locked after the busy timeout raises :class:`StateLocked`, with the
  transaction rolled back; the caller retries later;
- a database written by a newer balancewatch raises :class:`StateError` and is left as is.

One connection is shared by every thread behind a lock; SQLite serialises writers anyway.
"""

# SQL here is built only from this module's and state_schema's constants; every value is a
# bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from balancewatch.model import Snapshot, StateError
from balancewatch.records import AlertState, Health, PollRecord, Silence
from balancewatch.state import sqlite_migrations as migrations
from balancewatch.state import sqlite_schema as schema
from balancewatch.state.columns import ALERT_COLUMNS, HEALTH_COLUMNS, SILENCE_COLUMNS
from balancewatch.state.leases import lease_lost, split_fenced
from balancewatch.state.sqlite_acks import SqliteAcks
from balancewatch.state.sqlite_cluster import SqliteCluster, current_tokens
from balancewatch.state.sqlite_open import open_checked, open_readonly, translated
from balancewatch.state.sqlite_outbox import SqliteOutbox
from balancewatch.state.sqlite_reads import SqliteReads

if TYPE_CHECKING:
    from balancewatch.state import Store

_PRUNE_BATCH = 500
"""Accounts pruned per transaction, so that polls can commit between batches."""


class SqliteStore(SqliteOutbox, SqliteCluster, SqliteReads, SqliteAcks):
    """The :class:`~balancewatch.state.Store` on one SQLite file. Open with :meth:`open`.

    The outbox is :class:`.SqliteOutbox`'s, leases and daemons :class:`.SqliteCluster`'s,
    the status page's reads :class:`.SqliteReads`'.
    """

    reset_reason: str | None

    def __init__(self, conn: sqlite3.Connection, *, reset_reason: str | None = None) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self.reset_reason = reset_reason

    @classmethod
    def open(
        cls, path: Path | str, *, now: datetime, busy_timeout: float = 5.0, repair: bool = True
    ) -> SqliteStore:
        """Open (creating, migrating or, if corrupt, resetting) the database at ``path``.

        ``now`` names a corrupt file moved aside; ``repair=False`` (a command writing beside
        a running daemon, which still holds the file open) raises :class:`StateError`
        instead. Raises :class:`StateError` if the file is from a newer balancewatch,
        :class:`StateLocked` if it stays locked while migrating.
        """
        target = str(path)
        if target != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        conn, reset_reason = open_checked(target, busy_timeout, now, repair=repair)
        store = cls(conn, reset_reason=reset_reason)
        try:
            store._prepare(target)
        except BaseException:
            conn.close()
            raise
        return store

    @classmethod
    def open_readonly(cls, path: Path | str, *, busy_timeout: float = 5.0) -> SqliteStore:
        """Open an existing database only to read it: never created, migrated, repaired or
        written (``status``, ``history``, ``replay``, ``check``). A damaged file, or one
        whose schema this balancewatch does not read, is a :class:`StateError`."""
        conn = open_readonly(path, busy_timeout)
        return cls(conn)

    def _prepare(self, target: str) -> None:
        with self._lock, translated():
            found = migrations.user_version(self._conn)
            if found > migrations.LATEST_VERSION:
                raise StateError(
                    f"state database {target} has schema version {found}, but this "
                    f"balancewatch knows versions up to {migrations.LATEST_VERSION}: upgrade "
                    "balancewatch or use another state file (the file was left untouched)"
                )
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute("PRAGMA foreign_keys = ON")
        for migration in migrations.MIGRATIONS:
            if migration.version <= found:
                continue
            with self._write() as conn:
                # Another process may have migrated between our read and our lock.
                if migrations.user_version(conn) < migration.version:
                    migrations.apply_migration(conn, migration)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed if the block succeeds, else rolled back."""
        with self._lock, translated():
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock, translated():
            return self._conn.execute(sql, params).fetchall()

    # ------------------------------------------------------------ polls

    def commit_poll(self, record: PollRecord) -> None:
        """Write one poll's results, all or nothing (:meth:`commit_polls`)."""
        self.commit_polls([record])

    def commit_polls(self, records: Sequence[PollRecord]) -> None:
        """Write several polls' results in one transaction (group commit), all or nothing.

        One fsync for many polls: at 10,000 accounts a transaction per poll kept the
        database thread saturated and made polls queue for seconds behind each other.
        A record with a ``fence`` is written only if that is still its account's lease
        token; if any is refused, :class:`LeaseLost` names them once the others are written.
        """
        fenced = sorted({r.account for r in records if r.fence is not None})
        refused: list[PollRecord] = []
        with self._write() as conn:
            if fenced:
                records, refused = split_fenced(records, current_tokens(conn, fenced))
            conn.executemany(
                schema.INSERT_SNAPSHOT,
                [schema.snapshot_row(r.snapshot) for r in records if r.snapshot is not None],
            )
            conn.executemany(schema.UPSERT_HEALTH, [schema.health_row(r.health) for r in records])
            conn.executemany(
                schema.UPSERT_ALERT, [schema.alert_row(a) for r in records for a in r.alerts]
            )
            conn.executemany(
                schema.INSERT_NOTIFICATION,
                [schema.notification_row(n) for r in records for n in r.notifications],
            )
            conn.executemany(
                schema.INSERT_DELIVERY,
                [schema.delivery_row(d) for r in records for d in r.deliveries],
            )
        if refused:
            raise lease_lost(refused)

    def last_snapshot(self, account: str) -> Snapshot | None:
        rows = self._read(
            f"SELECT {schema.SNAPSHOT_COLUMNS} FROM snapshots WHERE account = ?"
            " ORDER BY taken_at DESC LIMIT 1",
            (account,),
        )
        return schema.snapshot_from(rows[0]) if rows else None

    def history(
        self, account: str, since: datetime, until: datetime | None = None
    ) -> list[Snapshot]:
        """Snapshots with ``since <= taken_at <= until`` (no upper bound if None), oldest first."""
        sql = f"SELECT {schema.SNAPSHOT_COLUMNS} FROM snapshots WHERE account = ? AND taken_at >= ?"
        params = [account, schema.ts(since)]
        if until is not None:
            sql += " AND taken_at <= ?"
            params.append(schema.ts(until))
        rows = self._read(sql + " ORDER BY taken_at, id", params)
        return [schema.snapshot_from(row) for row in rows]

    def accounts(self) -> list[str]:
        """Every account with a snapshot or a health row, sorted."""
        rows = self._read(f"{schema.SNAPSHOT_ACCOUNTS} UNION SELECT account FROM health ORDER BY 1")
        return [row[0] for row in rows]

    def health(self, account: str) -> Health | None:
        rows = self._read(
            f"SELECT {HEALTH_COLUMNS} FROM health WHERE account = ?",
            (account,),
        )
        return schema.health_from(rows[0]) if rows else None

    def all_health(self) -> list[Health]:
        rows = self._read(f"SELECT {HEALTH_COLUMNS} FROM health ORDER BY account")
        return [schema.health_from(row) for row in rows]

    def prune(self, before: datetime) -> int:
        """Delete history older than ``before``; return the number of rows deleted.

        Deletes snapshots taken before ``before`` except each account's latest one (so
        ``status`` and change rules still have a reference), and notifications created
        before ``before`` whose deliveries are all delivered or given up (their delivery
        rows go with them and are not counted). Runs in batches of accounts, each its own
        transaction, so that polls are not held up by a long prune.
        """
        cutoff = schema.ts(before)
        accounts = [row[0] for row in self._read(schema.SNAPSHOT_ACCOUNTS)]
        deleted = 0
        for start in range(0, len(accounts), _PRUNE_BATCH):
            batch = accounts[start : start + _PRUNE_BATCH]
            with self._write() as conn:
                cursor = conn.executemany(schema.PRUNE_SNAPSHOTS, [(a, cutoff, a) for a in batch])
                deleted += cursor.rowcount
        with self._write() as conn:
            deleted += conn.execute(schema.PRUNE_NOTIFICATIONS, (cutoff,)).rowcount
        return deleted

    # ------------------------------------------------------------ alerts

    def alert_states(self, account: str) -> dict[str, AlertState]:
        rows = self._read(
            f"SELECT {ALERT_COLUMNS} FROM alerts WHERE account = ?",
            (account,),
        )
        states = (schema.alert_from(row) for row in rows)
        return {state.key: state for state in states}

    def firing_alerts(self) -> list[AlertState]:
        rows = self._read(
            f"SELECT {ALERT_COLUMNS} FROM alerts WHERE status = 'firing' ORDER BY account, key"
        )
        return [schema.alert_from(row) for row in rows]

    # ------------------------------------------------------------ silences

    def add_silence(
        self, account: str, rule: str | None, starts_at: datetime, ends_at: datetime, reason: str
    ) -> Silence:
        row = (account, rule, schema.ts(starts_at), schema.ts(ends_at), reason)
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO silences (account, rule, starts_at, ends_at, reason)"
                " VALUES (?, ?, ?, ?, ?)",
                row,
            )
            silence_id = cursor.lastrowid
        assert silence_id is not None
        return Silence(silence_id, account, rule, schema.dt(row[2]), schema.dt(row[3]), reason)

    def silences(self, at: datetime | None = None) -> list[Silence]:
        """Silences active at ``at`` (``starts_at <= at < ends_at``); every stored one if None.

        Ordered by start, then id. ``None`` includes ended and future silences: the store
        reads no clock, so "current" always needs an instant from the caller.
        """
        sql = f"SELECT {SILENCE_COLUMNS} FROM silences"
        params: list[str] = []
        if at is not None:
            sql += " WHERE starts_at <= ? AND ends_at > ?"
            params = [schema.ts(at)] * 2
        rows = self._read(sql + " ORDER BY starts_at, id", params)
        return [schema.silence_from(row) for row in rows]

    def lift_silence(self, silence_id: int, at: datetime) -> bool:
        """End a silence at ``at``; False if there is no such silence or it already ended.

        A silence that has not started yet is cancelled (it ends where it starts).
        """
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE silences SET ends_at = MAX(starts_at, ?1) WHERE id = ?2 AND ends_at > ?1",
                (schema.ts(at), silence_id),
            )
            return cursor.rowcount == 1

    # ------------------------------------------------------------ meta

    def get_meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


if TYPE_CHECKING:

    def _conforms(store: SqliteStore) -> Store:
        """mypy proves here that SqliteStore implements the Store protocol."""
        return store
