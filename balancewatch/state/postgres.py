"""The PostgreSQL state store: the same :class:`~balancewatch.state.Store` as SQLite's, for
several daemons sharing one database (``state: {url: "postgresql://..."}``).

Tables, types and migrations: :mod:`.postgres_schema`; connecting, the pool and error
translation: :mod:`.postgres_open`; the outbox: :mod:`.postgres_outbox`; leases, fencing
and daemons: :mod:`.postgres_cluster`.

**Synchronous psycopg 3 with a connection pool, not its asyncio API.** The
:class:`~balancewatch.state.Store` protocol is synchronous, SQLite's store behind it is
too, and the daemon already runs every store call on a database thread
(``run_in_executor``), so one protocol and one test suite serve both backends. psycopg's
sync and async connections are the same libpq underneath; the thread hop costs some
microseconds per call, and calls are few because they are batched (one claim per tick, one
group commit per batch of polls, a commit is two round trips whatever its size). An async
store would have meant a second protocol, a second SQLite implementation or an
``asyncio.to_thread`` wrapper around sqlite3, and a second copy of every test. For
PostgreSQL the daemon can give the store a few threads (``pool_size`` connections) so that
a slow commit does not hold up a claim.

**Round trips.** Every connection is in autocommit mode: a read, a claim or a mark is one
statement, one round trip. A write transaction (a group commit, an enqueue) is queued as
one pipeline and sent when its result is needed: a commit of any number of records is two
round trips (read the fencing tokens under lock, then write and COMMIT) and one without
fenced records. Rows are written set-wise, one ``INSERT ... SELECT FROM unnest(...)`` per
table with one array per column, so the server plans one statement per table, not one per
row. Server-side prepared statements are off so that PgBouncer's transaction mode works.
"""

# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from psycopg_pool import ConnectionPool

from balancewatch.model import Snapshot, StateError
from balancewatch.records import AlertState, Health, PollRecord, Silence
from balancewatch.state import postgres_schema as schema
from balancewatch.state.columns import ALERT_COLUMNS, HEALTH_COLUMNS, SILENCE_COLUMNS
from balancewatch.state.leases import lease_lost, split_fenced
from balancewatch.state.postgres_acks import PgAcks
from balancewatch.state.postgres_cluster import PgCluster
from balancewatch.state.postgres_open import CONNECT_TIMEOUT, connect, make_pool, translated
from balancewatch.state.postgres_outbox import INSERT_DELIVERIES, INSERT_NOTIFICATIONS, PgOutbox
from balancewatch.state.postgres_reads import PgReads
from balancewatch.state.urls import describe, url_secrets

if TYPE_CHECKING:
    from balancewatch.state import Store

_PRUNE_BATCH = 500
SNAPSHOT_COLUMNS = "account, taken_at, balances::text"
_TIME, _TEXT = "timestamptz", "text"
_HEALTH_TYPES = (_TEXT, "int", _TEXT, _TEXT, _TIME, _TIME, _TIME, _TEXT)
_ALERT_TYPES = (
    *(_TEXT, _TEXT, _TEXT, _TEXT, _TEXT, _TEXT, _TEXT, "smallint", _TEXT, "int"),
    *(_TIME, _TIME, "smallint", _TIME, "numeric", "numeric", _TIME, _TIME),
)


def unnest(types: Sequence[str]) -> str:
    return "unnest(" + ", ".join(f"%s::{t}[]" for t in types) + ")"


def upsert(table: str, cols: str, types: Sequence[str], key: str) -> str:
    names = [c.strip() for c in cols.split(",")]
    keys = {k.strip() for k in key.split(",")}
    sets = ", ".join(f"{c} = excluded.{c}" for c in names if c not in keys)
    return (
        f"INSERT INTO {table} ({cols}) SELECT * FROM {unnest(types)}"
        f" ON CONFLICT ({key}) DO UPDATE SET {sets}"
    )


INSERT_SNAPSHOTS = (
    "INSERT INTO snapshots (account, taken_at, balances)"
    f" SELECT * FROM {unnest(['text', 'timestamptz', 'jsonb'])}"
)
UPSERT_HEALTH = upsert("health", HEALTH_COLUMNS, _HEALTH_TYPES, "account")
UPSERT_ALERTS = upsert("alerts", ALERT_COLUMNS, _ALERT_TYPES, "account, key")
TOKENS = "SELECT account, token FROM leases WHERE account = ANY(%s) ORDER BY account FOR SHARE"
# A skip-scan over the (account, taken_at) index: one probe per account, not per row.
SNAPSHOT_ACCOUNTS = """
    WITH RECURSIVE seen(account) AS (
        (SELECT account FROM snapshots ORDER BY account LIMIT 1)
        UNION ALL
        SELECT (SELECT s.account FROM snapshots s WHERE s.account > seen.account
                ORDER BY s.account LIMIT 1)
        FROM seen WHERE seen.account IS NOT NULL
    )
    SELECT account FROM seen WHERE account IS NOT NULL"""
PRUNE_SNAPSHOTS = (
    "DELETE FROM snapshots s WHERE s.account = ANY(%s) AND s.taken_at < %s"
    " AND s.taken_at < (SELECT max(m.taken_at) FROM snapshots m WHERE m.account = s.account)"
)
PRUNE_NOTIFICATIONS = (
    "DELETE FROM notifications n WHERE n.created_at < %s AND NOT EXISTS (SELECT 1 FROM"
    " deliveries d WHERE d.notification_id = n.id AND d.delivered_at IS NULL"
    " AND d.gave_up_at IS NULL)"
)


class PostgresStore(PgOutbox, PgCluster, PgReads, PgAcks):
    """The :class:`~balancewatch.state.Store` on a PostgreSQL database. Open with :meth:`open`."""

    reset_reason: str | None = None
    """Always None: PostgreSQL keeps its own data safe; nothing is ever moved aside."""

    def __init__(
        self, pool: ConnectionPool, secrets: frozenset[str], *, readonly: bool = False
    ) -> None:
        self._pool = pool
        self._secrets = secrets
        self._readonly = readonly

    @classmethod
    def open(
        cls,
        url: str,
        *,
        readonly: bool = False,
        pool_size: int = 4,
        timeout: float = CONNECT_TIMEOUT,
    ) -> PostgresStore:
        """Connect, migrate the schema (unless ``readonly``) and open a pool of up to
        ``pool_size`` connections. A call that finds no connection within ``timeout``
        seconds (the server is down) raises :class:`StateLocked`.

        ``readonly`` (``status``, ``history``, ``replay``, ``check``): never creates or
        migrates anything, refuses every write, and the schema must be the current one.
        Raises :class:`StateLocked` if the server cannot be reached, :class:`StateError` if
        the schema is from a newer balancewatch (or missing, read-only).
        """
        secrets = url_secrets(url)
        where = describe(url)
        with connect(url, secrets) as conn, translated(secrets):
            if readonly:
                check_current(schema.schema_version(conn), where)
            else:
                schema.migrate(conn, where)
        return cls(make_pool(url, secrets, pool_size, timeout), secrets, readonly=readonly)

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------ polls

    def commit_poll(self, record: PollRecord) -> None:
        """Write one poll's results, all or nothing (:meth:`commit_polls`)."""
        self.commit_polls([record])

    def commit_polls(self, records: Sequence[PollRecord]) -> None:
        """Write several polls' results in one transaction (group commit), all or nothing.

        A record with a ``fence`` is written only if that is still its account's lease
        token, read under a share lock (a claim cannot bump it until this commits); if any
        is refused, :class:`LeaseLost` names them once the others are written.
        """
        fenced = sorted({r.account for r in records if r.fence is not None})
        refused: list[PollRecord] = []
        with self._write() as conn:
            if fenced:
                tokens = dict(conn.execute(TOKENS.encode(), (fenced,)).fetchall())
                records, refused = split_fenced(records, tokens)
            self._insert(conn, records)
        if refused:
            raise lease_lost(refused)

    @staticmethod
    def _insert(conn: Any, records: Sequence[PollRecord]) -> None:
        snapshots = [schema.snapshot_row(r.snapshot) for r in records if r.snapshot]
        health = schema.last_per_key((schema.health_row(r.health) for r in records), 1)
        alerts = schema.last_per_key((schema.alert_row(a) for r in records for a in r.alerts), 2)
        notes = [schema.notification_row(n) for r in records for n in r.notifications]
        deliveries = [schema.delivery_row(d) for r in records for d in r.deliveries]
        for sql, rows, width in (
            (INSERT_SNAPSHOTS, snapshots, 3),
            (UPSERT_HEALTH, health, 8),
            (UPSERT_ALERTS, alerts, 18),
            (INSERT_NOTIFICATIONS, notes, 11),
            (INSERT_DELIVERIES, deliveries, 7),
        ):
            if rows:
                conn.execute(sql.encode(), schema.columns(rows, width))

    def last_snapshot(self, account: str) -> Snapshot | None:
        rows = self._read(
            f"SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE account = %s"
            " ORDER BY taken_at DESC LIMIT 1",
            (account,),
        )
        return schema.snapshot_from(rows[0]) if rows else None

    def history(
        self, account: str, since: datetime, until: datetime | None = None
    ) -> list[Snapshot]:
        """Snapshots with ``since <= taken_at <= until`` (no upper bound if None), oldest first."""
        sql = f"SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE account = %s AND taken_at >= %s"
        params: list[Any] = [account, schema.aware(since)]
        if until is not None:
            sql += " AND taken_at <= %s"
            params.append(schema.aware(until))
        rows = self._read(sql + " ORDER BY taken_at, id", params)
        return [schema.snapshot_from(row) for row in rows]

    def accounts(self) -> list[str]:
        """Every account with a snapshot or a health row, sorted."""
        rows = self._read(f"{SNAPSHOT_ACCOUNTS} UNION SELECT account FROM health ORDER BY 1")
        return [row[0] for row in rows]

    def health(self, account: str) -> Health | None:
        rows = self._read(f"SELECT {HEALTH_COLUMNS} FROM health WHERE account = %s", (account,))
        return schema.health_from(rows[0]) if rows else None

    def all_health(self) -> list[Health]:
        rows = self._read(f"SELECT {HEALTH_COLUMNS} FROM health ORDER BY account")
        return [schema.health_from(row) for row in rows]

    def prune(self, before: datetime) -> int:
        """Delete history older than ``before`` (as SQLite's :meth:`SqliteStore.prune`):
        each account's latest snapshot stays, and notifications still being delivered."""
        cutoff = schema.aware(before)
        accounts = [row[0] for row in self._read(SNAPSHOT_ACCOUNTS)]
        deleted = 0
        for start in range(0, len(accounts), _PRUNE_BATCH):
            batch = accounts[start : start + _PRUNE_BATCH]
            deleted += self._run(PRUNE_SNAPSHOTS, (batch, cutoff))[0]
        return deleted + int(self._run(PRUNE_NOTIFICATIONS, (cutoff,))[0])

    # ------------------------------------------------------------ alerts

    def alert_states(self, account: str) -> dict[str, AlertState]:
        rows = self._read(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE account = %s", (account,))
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
        row = (account, rule, schema.aware(starts_at), schema.aware(ends_at), reason)
        (created,) = self._run(
            "INSERT INTO silences (account, rule, starts_at, ends_at, reason)"
            f" VALUES (%s, %s, %s, %s, %s) RETURNING {SILENCE_COLUMNS}",
            row,
        )
        return schema.silence_from(created)

    def silences(self, at: datetime | None = None) -> list[Silence]:
        """Silences active at ``at`` (``starts_at <= at < ends_at``); every stored one if None."""
        sql = f"SELECT {SILENCE_COLUMNS} FROM silences"
        params: list[datetime] = []
        if at is not None:
            sql += " WHERE starts_at <= %s AND ends_at > %s"
            params = [schema.aware(at)] * 2
        rows = self._read(sql + " ORDER BY starts_at, id", params)
        return [schema.silence_from(row) for row in rows]

    def lift_silence(self, silence_id: int, at: datetime) -> bool:
        """End a silence at ``at``; False if there is no such silence or it already ended."""
        (count,) = self._run(
            "UPDATE silences SET ends_at = GREATEST(starts_at, %(at)s)"
            " WHERE id = %(id)s AND ends_at > %(at)s",
            {"at": schema.aware(at), "id": silence_id},
        )
        return bool(count == 1)

    # ------------------------------------------------------------ meta

    def get_meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = %s", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self._run(
            "INSERT INTO meta (key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def check_current(found: int | None, where: str) -> None:
    """A read-only command reads only the schema this balancewatch writes."""
    if found is None:
        raise StateError(f"no balancewatch state in {where}: has the daemon run yet?")
    if found > schema.LATEST_VERSION:
        raise schema.newer_schema(found, where)
    if found < schema.LATEST_VERSION:
        raise StateError(
            f"state database {where} has schema version {found}, from an older balancewatch "
            f"(this one reads version {schema.LATEST_VERSION}); the daemon of this version "
            "migrates it when it starts"
        )


if TYPE_CHECKING:

    def _conforms(store: PostgresStore) -> Store:
        """mypy proves here that PostgresStore implements the Store protocol."""
        return store
