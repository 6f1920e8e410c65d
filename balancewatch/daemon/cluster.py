"""Who should poll which account, when several daemons share one database.

Every daemon ticks every account in the same slot (:mod:`~balancewatch.daemon.schedule`),
and polls it only under a lease (:mod:`~balancewatch.daemon.claims`). This module decides
which daemon *asks* for each lease, so that the work spreads out instead of going to the
first daemon started:

- **Membership.** Each daemon heartbeats every :func:`heartbeat_period` (a row in the
  database, its clock). The *live* members are those heard from within
  :data:`MISSED_HEARTBEATS` periods that run the same config (the same :func:`config_hash`);
  a daemon always counts itself.
- **Rendezvous hashing.** Each account goes to the live member with the highest
  ``blake2b(member, account)``: every daemon computes the same answer from the same
  members, and a member joining or leaving moves only its share of the accounts.
- **The rules at a tick** (:meth:`Membership.mine`): the preferred daemon claims the
  account; another one polls it only while it still holds the lease (it then releases it
  after that poll, so the preferred one gets it at the next slot with none missed); nobody
  else asks. A dead or paused daemon stops heartbeating, drops out of everyone's live set,
  and its accounts' new preferred daemons take them as soon as its leases run out.

Views can differ for a moment (a heartbeat not yet seen, two configs during a rolling
reload). That is safe: the lease, not this module, decides who polls; a wrong view costs at
most a refused claim, or a slot polled by the old holder instead of the new one.

Decisions where the issue is silent: members are judged by the database's clock (the
heartbeat's own timestamp is "now"), so hosts' clocks never matter; daemons with a
different config are not counted (each group shares among itself; the lease keeps them from
polling an account twice), and the mismatch is reported.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from balancewatch.config.load import Config
from balancewatch.state import Member

MISSED_HEARTBEATS = 3
"""A member not heard from for this many heartbeat periods is gone."""
HEARTBEAT_MIN = 1.0
HEARTBEAT_MAX = 5.0


def heartbeat_period(shortest_interval: timedelta | None) -> float:
    """Seconds between heartbeats: half the shortest interval, within 1-5 s. A dead daemon
    drops out of the others' view within three of them, well inside its lease."""
    if shortest_interval is None:
        return HEARTBEAT_MAX
    return min(HEARTBEAT_MAX, max(HEARTBEAT_MIN, shortest_interval.total_seconds() / 2))


def new_member_id() -> tuple[str, str, int]:
    """(id, host, pid) of this process: host and pid for people, a random tail so that a
    restarted daemon (same pid in a container) is a new member, never its predecessor."""
    host, pid = socket.gethostname(), os.getpid()
    return f"{host}:{pid}:{secrets.token_hex(3)}", host, pid


def config_hash(config: Config, accounts: Iterable[Sequence[Any]]) -> str:
    """What the daemons must agree on, hashed: each account's facts (as
    :func:`account_facts` gives them), the routes and the notifiers' names, URL schemes and
    wording. Not the file's bytes (comments, order), not ``state``/``http``/``logging``
    (per host), and no secret: credentials enter only through the accounts' fingerprints,
    which are hashes already."""
    notifiers = [
        [name, [url.partition(":")[0] for url in n.urls], n.title, n.body]
        for name, n in sorted(config.notifiers.items())
    ]
    doc = {
        "accounts": sorted(list(facts) for facts in accounts),
        "routes": [r.model_dump(mode="json") for r in config.routes],
        "notifiers": notifiers,
        "notify": config.notify.model_dump(mode="json"),
    }
    text = json.dumps(doc, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def weight(member: str, account: str) -> bytes:
    return hashlib.blake2b(f"{member}\0{account}".encode(), digest_size=8).digest()


def preferred(account: str, members: Sequence[str]) -> str:
    """The member that should hold ``account``: the highest rendezvous weight."""
    return max(members, key=lambda member: weight(member, account))


@dataclass
class Membership:
    """This daemon's view of the members, from its latest heartbeat."""

    me: str
    host: str
    pid: int
    config_hash: str
    live: list[str] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    fresh: list[Member] = field(default_factory=list)
    """Members heard from lately, whatever their config."""
    configs: int = 1
    """Distinct config hashes among the members heard from lately (>1: they differ)."""
    _choice: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.live = [self.me]

    def update(self, members: Sequence[Member], stale_after: float) -> bool:
        """Take a heartbeat's member list; True if the live set changed."""
        mine = next((m for m in members if m.id == self.me), None)
        self.members = list(members)
        if mine is None:  # forgotten between two statements: keep the last view
            return False
        now = mine.last_heartbeat
        fresh = [m for m in members if (now - m.last_heartbeat).total_seconds() <= stale_after]
        self.fresh = fresh
        self.configs = len({m.config_hash for m in fresh})
        live = sorted({self.me, *(m.id for m in fresh if m.config_hash == self.config_hash)})
        if live == self.live:
            return False
        self.live = live
        self._choice.clear()
        return True

    def mine(self, account: str) -> bool:
        """Whether this daemon is the one that should hold ``account`` now."""
        if len(self.live) == 1:
            return True
        chosen = self._choice.get(account)
        if chosen is None:
            chosen = self._choice[account] = preferred(account, self.live)
        return chosen == self.me

    def mismatched(self) -> list[Member]:
        """Members heard from lately whose config differs from this daemon's."""
        return [m for m in self.fresh if m.config_hash != self.config_hash]

    def predecessors(self) -> list[str]:
        """Members on this host whose process is gone (a daemon killed and restarted):
        their leases can be ended now rather than waited out. Asked once, at start: the
        common case is one daemon per host restarted by systemd after a crash."""
        return [
            m.id
            for m in self.members
            if m.id != self.me and m.host == self.host and (m.pid == self.pid or _gone(m.pid))
        ]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False
