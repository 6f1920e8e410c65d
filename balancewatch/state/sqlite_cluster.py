"""Leases, fencing tokens and daemons on SQLite (mixed into ``SqliteStore``).

The semantics are :mod:`balancewatch.state.leases`', the same as on PostgreSQL; the clock
is SQLite's (the host's, read in SQL) and every write holds SQLite's one write lock
(``BEGIN IMMEDIATE``), so claims and fenced commits are serialised without row locks. One
daemon always gets its claims; a second one started on the same file by mistake gets only
the accounts whose lease has run out, and the first one's late commits are refused.
"""

# ruff: noqa: S608

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from balancewatch.state import sqlite_schema as schema
from balancewatch.state.leases import Claim, Cluster, Lease, Member, check_lease, wanted_accounts
from balancewatch.state.sqlite_open import SqliteAccess
from balancewatch.state.sqlite_outbox import NOW, now_plus

_IN_JSON = "(SELECT value FROM json_each(?))"
_WANTED = "(SELECT json_extract(value, '$[0]') FROM json_each(?))"
_CLAIM = f"""
    INSERT INTO leases (account, owner, token, claimed_at, expires_at)
    SELECT json_extract(value, '$[0]'), ?1, 1, {NOW}, {now_plus("json_extract(value, '$[1]')")}
    FROM json_each(?2) WHERE true
    ON CONFLICT (account) DO UPDATE SET
        owner = excluded.owner, token = leases.token + 1,
        claimed_at = excluded.claimed_at, expires_at = excluded.expires_at
    WHERE leases.owner = excluded.owner OR leases.expires_at <= excluded.claimed_at
    RETURNING account, token"""
_HEARTBEAT = f"""
    INSERT INTO daemons (id, host, pid, config_hash, started_at, last_heartbeat)
    VALUES (?, ?, ?, ?, {NOW}, {NOW})
    ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
        config_hash = excluded.config_hash, last_heartbeat = excluded.last_heartbeat"""
_MEMBERS = "SELECT id, host, pid, config_hash, started_at, last_heartbeat FROM daemons ORDER BY id"
_LEASES = "SELECT account, owner, token, claimed_at, expires_at FROM leases ORDER BY account"


def _member(row: Sequence[object]) -> Member:
    return Member(str(row[0]), str(row[1]), int(str(row[2])), str(row[3]), _dt(row[4]), _dt(row[5]))


def _dt(value: object) -> datetime:
    return schema.dt(str(value))


class SqliteCluster(SqliteAccess):
    """Claims on accounts, the daemons' heartbeats, what ``status`` shows of them."""

    def claim_accounts(self, owner: str, wanted: Sequence[tuple[str, float]]) -> dict[str, Claim]:
        """Claim each account of ``wanted`` (account, lease seconds) for ``owner``, at once.

        A claim is granted if nobody else holds an unexpired lease on the account: a new
        account, an expired lease, or ``owner``'s own (renewed). Each granted claim bumps
        the account's token. Returns the granted claims only, by account.
        """
        unique = wanted_accounts(wanted)
        if not unique:
            return {}
        payload = json.dumps(unique)
        with self._write() as conn:
            before = dict(
                conn.execute(
                    f"SELECT account, owner FROM leases WHERE account IN {_WANTED}", (payload,)
                ).fetchall()
            )
            granted = conn.execute(_CLAIM, (owner, payload)).fetchall()
        return {account: Claim(account, token, before.get(account)) for account, token in granted}

    def release_accounts(self, owner: str, accounts: Sequence[str] | None = None) -> int:
        """End ``owner``'s unexpired leases now (all of them if ``accounts`` is None), so
        another daemon takes them at its next claim; return how many were held. The tokens
        stay: a commit ``owner`` still makes is written until someone claims again."""
        sql = f"UPDATE leases SET expires_at = {NOW} WHERE owner = ? AND expires_at > {NOW}"
        params: list[str] = [owner]
        if accounts is not None:
            sql += f" AND account IN {_IN_JSON}"
            params.append(json.dumps(list(accounts)))
        with self._write() as conn:
            return conn.execute(sql, params).rowcount

    def heartbeat(
        self, daemon: str, *, host: str, pid: int, config_hash: str, forget_after: float = 86400
    ) -> list[Member]:
        """Say ``daemon`` is alive (the database's clock), forget daemons silent for
        ``forget_after`` seconds, and return every daemon still known, by id."""
        check_lease(forget_after)
        with self._write() as conn:
            conn.execute(_HEARTBEAT, (daemon, host, pid, config_hash))
            conn.execute(
                f"DELETE FROM daemons WHERE last_heartbeat < {now_plus('?')}", (-forget_after,)
            )
            rows = conn.execute(_MEMBERS).fetchall()
        return [_member(row) for row in rows]

    def leave(self, daemon: str) -> None:
        """Forget ``daemon`` (a clean shutdown); its leases are released separately."""
        with self._write() as conn:
            conn.execute("DELETE FROM daemons WHERE id = ?", (daemon,))

    def cluster(self) -> Cluster:
        """The database's clock, every known daemon and every lease (read-only stores too)."""
        now = self._read(f"SELECT {NOW}")[0][0]
        members = self._read(_MEMBERS)
        leases = self._read(_LEASES)
        return Cluster(
            _dt(now),
            [_member(row) for row in members],
            [Lease(row[0], row[1], row[2], _dt(row[3]), _dt(row[4])) for row in leases],
        )

    def oldest_overdue(self, accounts: Sequence[str]) -> float:
        """Seconds since the longest-expired lease among ``accounts`` ran out, or 0.

        A holder renews its lease at every poll, so an expired lease is an account nobody
        has polled for longer than its lease: the cluster-wide "nobody is polling" gauge.
        Accounts never claimed yet are not counted.
        """
        rows = self._read(
            f"SELECT {NOW}, MIN(expires_at) FROM leases WHERE account IN {_IN_JSON}",
            (json.dumps(list(accounts)),),
        )
        now, oldest = rows[0]
        if oldest is None:
            return 0.0
        return max(0.0, (_dt(now) - _dt(oldest)).total_seconds())


def current_tokens(conn: sqlite3.Connection, accounts: Sequence[str]) -> dict[str, int]:
    """The current lease token of each of ``accounts`` ever claimed, in ``conn``'s open
    write transaction (so no claim can bump one before the transaction ends)."""
    rows = conn.execute(
        f"SELECT account, token FROM leases WHERE account IN {_IN_JSON}",
        (json.dumps(list(accounts)),),
    ).fetchall()
    return dict(rows)
