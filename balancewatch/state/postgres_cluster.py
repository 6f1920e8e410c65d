"""Leases, fencing tokens and daemons on PostgreSQL (mixed into ``PostgresStore``).

**Why not a job queue's claim.** procrastinate and pgqueuer claim *jobs*: a row per unit of
work, taken once (``todo`` -> ``doing`` -> done, ``FOR UPDATE SKIP LOCKED``), re-queued when
its worker's heartbeat stops. An account is not a job: it is a permanent slot polled every
interval, forever, by whoever holds it. As a queue it would need a job enqueued per account
per interval (a second scheduler beside APScheduler, and 10,000 inserts and deletes per
interval), and neither queue fences: a worker that was paused past its heartbeat still
finishes its job and writes its result, which is exactly the stale write to refuse. So
the lease SQL is ours, but built from their parts: ``FOR UPDATE SKIP LOCKED`` so that two
daemons claiming together never wait on each other and never get the same account, the
database's ``now()`` as the only clock (daemons' clocks may disagree), and a heartbeat
table for membership.

**A claim** (:data:`CLAIM`, one statement for the whole batch, one round trip) inserts the
leases of accounts never claimed and, for the others, locks the rows that are free for
this owner (expired, or its own), skipping rows another transaction holds, and bumps their
token. Two concurrent batches cannot both win an account: a new row has one inserter (the
primary key), an existing row one locker, and a locker that comes second re-reads the row
as the winner left it (READ COMMITTED re-checks a locked row's condition against its
newest version), sees an unexpired lease of another owner, and passes. Rows are inserted
and locked in account order, so batches never deadlock.

**A fenced commit** reads the tokens of its accounts ``FOR SHARE`` in its own transaction:
a claim cannot bump one until the commit ends, and a claim in progress makes the commit
wait and then read the bumped token. Either the commit comes before the claim (and the new
holder reads its result) or after it (and is refused); never both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from balancewatch.state.leases import Claim, Cluster, Lease, Member, check_lease, wanted_accounts
from balancewatch.state.postgres_open import PgAccess
from balancewatch.state.postgres_schema import utc

CLAIM = """
    WITH wanted AS (
        SELECT * FROM unnest(%(accounts)s::text[], %(seconds)s::float8[]) AS w(account, seconds)
    ), created AS (
        INSERT INTO leases (account, owner, token, claimed_at, expires_at)
        SELECT account, %(owner)s, 1, now(), now() + seconds * interval '1 second'
        FROM wanted ORDER BY account
        ON CONFLICT (account) DO NOTHING
        RETURNING account, token, NULL::text AS previous_owner
    ), free AS (
        SELECT l.account, l.owner AS previous_owner, w.seconds
        FROM leases l JOIN wanted w USING (account)
        WHERE l.owner = %(owner)s OR l.expires_at <= now()
        ORDER BY l.account
        FOR UPDATE OF l SKIP LOCKED
    ), renewed AS (
        UPDATE leases l SET owner = %(owner)s, token = l.token + 1, claimed_at = now(),
            expires_at = now() + f.seconds * interval '1 second'
        FROM free f WHERE l.account = f.account
        RETURNING l.account, l.token, f.previous_owner
    )
    SELECT * FROM created UNION ALL SELECT * FROM renewed"""
HEARTBEAT = """
    WITH beat AS (
        INSERT INTO daemons (id, host, pid, config_hash, started_at, last_heartbeat)
        VALUES (%(id)s, %(host)s, %(pid)s, %(hash)s, now(), now())
        ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
            config_hash = excluded.config_hash, last_heartbeat = excluded.last_heartbeat
        RETURNING id, host, pid, config_hash, started_at, last_heartbeat
    ), gone AS (
        DELETE FROM daemons
        WHERE last_heartbeat < now() - %(forget)s * interval '1 second' AND id <> %(id)s
        RETURNING id
    )
    SELECT * FROM beat
    UNION ALL
    SELECT id, host, pid, config_hash, started_at, last_heartbeat FROM daemons
    WHERE id <> %(id)s AND id NOT IN (SELECT id FROM gone)
    ORDER BY id"""
MEMBERS = "SELECT id, host, pid, config_hash, started_at, last_heartbeat FROM daemons ORDER BY id"
LEASES = "SELECT account, owner, token, claimed_at, expires_at FROM leases ORDER BY account"
OLDEST_OVERDUE = """
    SELECT GREATEST(0, EXTRACT(EPOCH FROM now() - min(expires_at)))::float8
    FROM leases WHERE account = ANY(%s)"""


def _member(row: Sequence[Any]) -> Member:
    return Member(row[0], row[1], row[2], row[3], utc(row[4]), utc(row[5]))


class PgCluster(PgAccess):
    """Claims on accounts, the daemons' heartbeats, what ``status`` shows of them."""

    def claim_accounts(self, owner: str, wanted: Sequence[tuple[str, float]]) -> dict[str, Claim]:
        """Claim each account of ``wanted`` (account, lease seconds) for ``owner``, at once.

        A claim is granted if nobody else holds an unexpired lease on the account (and no
        other claim is locking it right now): a new account, an expired lease, or
        ``owner``'s own (renewed). Each granted claim bumps the account's token. Returns
        the granted claims only, by account.
        """
        unique = wanted_accounts(wanted)
        if not unique:
            return {}
        params = {
            "owner": owner,
            "accounts": [account for account, _ in unique],
            "seconds": [seconds for _, seconds in unique],
        }
        rows = self._run(CLAIM, params)
        return {account: Claim(account, token, previous) for account, token, previous in rows}

    def release_accounts(self, owner: str, accounts: Sequence[str] | None = None) -> int:
        """End ``owner``'s unexpired leases now (all if ``accounts`` is None); how many.
        Tokens stay: ``owner``'s commits still land until someone claims again."""
        sql = "UPDATE leases SET expires_at = now() WHERE owner = %s AND expires_at > now()"
        params: list[Any] = [owner]
        if accounts is not None:
            sql += " AND account = ANY(%s)"
            params.append(list(accounts))
        return int(self._run(sql, params)[0])

    def heartbeat(
        self, daemon: str, *, host: str, pid: int, config_hash: str, forget_after: float = 86400
    ) -> list[Member]:
        """Say ``daemon`` is alive (the database's clock), forget daemons silent for
        ``forget_after`` seconds, and return every daemon still known, by id. One
        statement."""
        params = {
            "id": daemon,
            "host": host,
            "pid": pid,
            "hash": config_hash,
            "forget": check_lease(forget_after),
        }
        return [_member(row) for row in self._run(HEARTBEAT, params)]

    def leave(self, daemon: str) -> None:
        """Forget ``daemon`` (a clean shutdown); its leases are released separately."""
        self._run("DELETE FROM daemons WHERE id = %s", (daemon,))

    def cluster(self) -> Cluster:
        """The database's clock, every known daemon and every lease, in one transaction."""
        with self._conn() as conn, conn.transaction():
            now = conn.execute(b"SELECT now()").fetchone()
            members = conn.execute(MEMBERS.encode()).fetchall()
            leases = conn.execute(LEASES.encode()).fetchall()
        assert now is not None
        return Cluster(
            utc(now[0]),
            [_member(row) for row in members],
            [Lease(row[0], row[1], row[2], utc(row[3]), utc(row[4])) for row in leases],
        )

    def oldest_overdue(self, accounts: Sequence[str]) -> float:
        """Seconds since the longest-expired lease among ``accounts`` ran out, or 0 (see
        :meth:`SqliteCluster.oldest_overdue`)."""
        rows = self._read(OLDEST_OVERDUE, (list(accounts),))
        return float(rows[0][0] or 0.0)
