"""Sharing the accounts between daemons: what a claim returns, who holds what, who is alive.

Several ``balancewatch run`` processes on one database share the accounts without a
leader. Before polling, a daemon claims the accounts it is about to poll
(:meth:`~balancewatch.state.Store.claim_accounts`, one round trip per tick); each claim is a
lease measured on the database's clock, and bumps the account's **fencing token**. The
poll's record carries that token (``PollRecord.fence``) and is written only while it is
still the account's current token, so a daemon that was paused past its lease, or cut off
from the database, cannot write a stale result or fire a stale alert: the new holder's
claim bumped the token, and the late commit is refused (and counted by the caller).

Outbox deliveries are claimed the same way (:meth:`~balancewatch.state.Store.claim_deliveries`),
each (notification, channel) row on its own, with its own token.

Every backend implements the same semantics: on SQLite (one host) the database's clock is
the host's, and one daemon always gets its claims; a second daemon started on the same
file by mistake is fenced like one on PostgreSQL, rather than sending every alert twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from balancewatch.model import StateError
from balancewatch.records import PollRecord

LEASE_SLACK = timedelta(seconds=10)


class LeaseLost(StateError):
    """A fenced write was refused: another daemon claimed the account (or the delivery)
    since this one's claim, so this one's result is stale.

    From :meth:`~balancewatch.state.Store.commit_polls`: raised *after* committing the
    batch's other records; ``refused`` are the records that wrote nothing at all (no
    snapshot, health, alert change or outbox row). From ``mark_failed``/``mark_gave_up``:
    nothing was written; ``refused`` is empty. Count it (``balancewatch_lease_lost_total``)
    and drop the account's cached state: it belongs to the new holder now.
    """

    def __init__(self, message: str, refused: Sequence[PollRecord] = ()) -> None:
        super().__init__(message)
        self.refused = list(refused)


def default_lease(interval: timedelta) -> timedelta:
    """How long a claim holds by default: two intervals and ten seconds.

    The holder renews it at every poll (every interval), so one late or failed poll does not
    lose it; a dead holder's accounts are taken over at most this long after its last claim.
    """
    return 2 * interval + LEASE_SLACK


@dataclass(frozen=True, slots=True)
class Claim:
    """A granted claim on one account: poll it, and commit the record with ``fence=token``."""

    account: str
    token: int
    """The fencing token: strictly greater than every earlier claim's on this account."""
    previous_owner: str | None
    """Who held the lease before this claim (None: never claimed before). Any other owner
    than the claimer means the account was polled elsewhere meanwhile: cached state for it
    (health, alert states, history) is stale and must be read again."""

    def taken_from_another(self, owner: str) -> bool:
        """True if ``owner`` (the claimer) was not the last holder: its cache is stale."""
        return self.previous_owner != owner


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds (or last held) an account, as ``status`` shows it."""

    account: str
    owner: str
    token: int
    claimed_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Member:
    """A daemon sharing the database, as its heartbeats describe it."""

    id: str
    host: str
    pid: int
    config_hash: str
    started_at: datetime
    last_heartbeat: datetime


@dataclass(frozen=True, slots=True)
class Cluster:
    """Everything ``status`` shows about the daemons sharing the database, read at once."""

    now: datetime
    """The database's clock when this was read: judge heartbeats and leases against it."""
    members: list[Member]
    leases: list[Lease]

    def config_hashes(self) -> set[str]:
        """More than one means the daemons run different configs (reported, not mixed)."""
        return {member.config_hash for member in self.members}

    def held_by(self, owner: str) -> list[str]:
        """The accounts ``owner`` holds an unexpired lease on, sorted."""
        return sorted(
            lease.account
            for lease in self.leases
            if lease.owner == owner and lease.expires_at > self.now
        )


def check_lease(seconds: float) -> float:
    """A lease length in seconds: finite and not negative (0 expires at once)."""
    if not 0 <= seconds < 10**9:
        raise ValueError(f"a lease must last 0 seconds or more, not {seconds!r}")
    return float(seconds)


def wanted_accounts(wanted: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    """Claims to make, one per account (the last one given wins), in account order.

    The order is the same for every daemon, so two batches that overlap lock their rows in
    the same order and never deadlock.
    """
    unique = {account: check_lease(seconds) for account, seconds in wanted}
    return sorted(unique.items())


def split_fenced(
    records: Sequence[PollRecord], tokens: Mapping[str, int]
) -> tuple[list[PollRecord], list[PollRecord]]:
    """(written, refused): a fenced record is written only if its account's current lease
    token (``tokens``, read under lock in the committing transaction) is its fence."""
    written: list[PollRecord] = []
    refused: list[PollRecord] = []
    for record in records:
        current = record.fence is None or tokens.get(record.account) == record.fence
        (written if current else refused).append(record)
    return written, refused


def lease_lost(refused: Sequence[PollRecord]) -> LeaseLost:
    accounts = ", ".join(sorted({r.account for r in refused}))
    return LeaseLost(
        f"lease lost on {accounts}: another daemon claimed it since; that poll wrote nothing",
        refused,
    )


def delivery_lost(notification_id: str, channel: str) -> LeaseLost:
    return LeaseLost(
        f"claim lost on notification {notification_id} to {channel}: another worker "
        "claimed it since; nothing was written"
    )
