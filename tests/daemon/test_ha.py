"""Several daemons, one config, one PostgreSQL database: real processes, a real server.

What the README promises for high availability, checked end to end: each due poll happens
once (the simulator's request times, per account), each notification is delivered once,
a dead daemon's accounts are taken over within the lease, a paused one's late writes are
refused by the fence and counted, a database restart is survived without a false alert,
and differing configs are reported. Intervals are 2 s; waits are bounded waits on what
the processes show (requests, /metrics, the database), never fixed sleeps.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from balancewatch.daemon.cluster import preferred
from balancewatch.sim.server import SimServer
from tests.daemon.ha_harness import INTERVAL, LEASE, Fleet, key
from tests.daemon.watching import wait_until
from tests.pgcluster import PgCluster
from tests.receivers import JsonReceiver

pytestmark = pytest.mark.xdist_group("ha")

ACCOUNTS = sorted(f"acct{i}" for i in range(24))
"""Enough that rendezvous hashing gives every daemon some: with 8, one of three daemons got
none about one start in eight (3 x (2/3)^8), and waiting for "each holds some" timed out."""


@pytest.fixture
def fleet(tmp_path: Path, pg_url: str) -> Iterator[Fleet]:
    sim = SimServer().start_in_thread()
    for name in ACCOUNTS:
        sim.add_account("sunor", key(name), balances={"CREDITS": {"available": 950}})
    with JsonReceiver() as receiver:
        built = Fleet(tmp_path, pg_url, sim, receiver, list(ACCOUNTS))
        try:
            yield built
        finally:
            built.kill_all()
            sim.stop_thread()


def titles(receiver: JsonReceiver) -> list[str]:
    return [str(m.payload.get("title", "")) for m in receiver.messages()]


def test_two_daemons_share_the_accounts_and_poll_each_slot_once(fleet: Fleet) -> None:
    """Two daemons split the accounts between them, every account is polled once per slot
    (never twice in one), an alert is delivered once, and status shows who holds what."""
    fleet.write_configs(2)
    for member in fleet.members:
        member.start()
    first, second = fleet.members
    wait_until(
        lambda: (
            bool(fleet.held(first))
            and bool(fleet.held(second))
            and sorted(fleet.held(first) + fleet.held(second)) == ACCOUNTS
        ),
        timeout=20,
        what="the accounts split between the daemons",
    )
    start = time.monotonic()
    fleet.sim.set_balance(key("acct3"), "CREDITS", available=Decimal("400"))
    wait_until(lambda: len(fleet.receiver.messages()) >= 1, timeout=15, what="the alert")
    wait_until(lambda: time.monotonic() - start > 5 * INTERVAL, timeout=30, what="five slots")
    assert fleet.doubles() == {}
    counts = [len(fleet.requests(a)) for a in ACCOUNTS]
    elapsed = time.monotonic() - start
    assert all(n >= elapsed / INTERVAL - 1 for n in counts), (counts, elapsed)
    assert len(fleet.receiver.messages()) == 1, titles(fleet.receiver)
    assert "acct3" in titles(fleet.receiver)[0]
    for member in fleet.members:
        assert member.stop() == 0
    assert fleet.cluster().members == [], "a clean stop leaves the cluster"


def claim_owner_of_pending(url: str) -> str | None:
    """The daemon that holds a claim on an undelivered notification, if any."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT claim_owner FROM deliveries WHERE delivered_at IS NULL"
            " AND claim_until > now() LIMIT 1"
        ).fetchone()
    return None if row is None else str(row[0])


def test_kill_9_hands_accounts_and_claimed_deliveries_to_the_others(fleet: Fleet) -> None:
    """Three daemons; the one sending an alert is killed mid-send: the others poll its
    accounts within the lease (plus the slot's wait), and deliver its alert once."""
    fleet.write_configs(3)
    for member in fleet.members:
        member.start()
    wait_until(
        lambda: (
            all(fleet.held(m) for m in fleet.members)
            and sorted(a for m in fleet.members for a in fleet.held(m)) == ACCOUNTS
        ),
        timeout=25,
        what="the accounts split between three daemons",
    )
    fleet.receiver.mode = "hang"
    fleet.sim.set_balance(key("acct5"), "CREDITS", available=Decimal("400"))
    wait_until(lambda: fleet.receiver.hung >= 1, timeout=15, what="the alert being sent")
    owner = claim_owner_of_pending(fleet.url)
    assert owner is not None
    victim = next(m for m in fleet.members if owner.split(":")[1] == str(m.pid))
    orphans = fleet.held(victim)
    victim.kill()
    killed = time.monotonic()
    fleet.receiver.mode = "up"
    fleet.receiver.release.set()
    wait_until(
        lambda: all(any(t > killed for t in fleet.requests(a)) for a in orphans),
        timeout=LEASE + 2 * INTERVAL + 5,
        what="the dead daemon's accounts polled again",
    )
    taken = max(min(t for t in fleet.requests(a) if t > killed) - killed for a in orphans)
    assert taken <= LEASE + INTERVAL + 1.0, f"taken over after {taken:.1f}s"
    wait_until(lambda: len(fleet.receiver.messages()) >= 1, timeout=30, what="the alert")
    done = time.monotonic()
    wait_until(lambda: time.monotonic() - done > 2 * INTERVAL, timeout=10, what="two slots")
    assert len(fleet.receiver.messages()) == 1, titles(fleet.receiver)
    assert "acct5" in titles(fleet.receiver)[0]
    assert fleet.doubles() == {}


def test_a_paused_daemons_late_write_is_refused_and_counted(fleet: Fleet) -> None:
    """A daemon stopped (SIGSTOP) mid-poll past its lease: the other takes the account,
    and when the paused one resumes, its stale result is refused by the fence, counted in
    balancewatch_lease_lost_total and logged once; no slot is polled twice."""
    fleet.write_configs(2)
    for member in fleet.members:
        member.start()
    victim, other = fleet.members

    def kept_by_victim() -> list[str]:
        """Accounts the victim holds and keeps (rendezvous picks it): not one it is about
        to hand over, which the other would poll with no lease to take."""
        ids = [fleet.owner(m) for m in fleet.members]
        if None in ids:
            return []
        live = sorted(str(i) for i in ids)
        return [a for a in fleet.held(victim) if preferred(a, live) == ids[0]]

    wait_until(lambda: bool(kept_by_victim()), timeout=20, what="a split")
    account = kept_by_victim()[0]
    seen = len(fleet.requests(account))
    fleet.sim.set_fault(key(account), "hang")
    wait_until(lambda: len(fleet.requests(account)) > seen, timeout=10, what="a hanging poll")
    victim.signal(signal.SIGSTOP)
    stopped = time.monotonic()
    fleet.sim.set_fault(key(account), None)
    wait_until(
        lambda: any(t > stopped for t in fleet.requests(account)),
        timeout=LEASE + 2 * INTERVAL + 5,
        what="the account taken over",
    )
    assert account in fleet.held(other)
    victim.signal(signal.SIGCONT)
    wait_until(
        lambda: (victim.metric("balancewatch_lease_lost_total") or 0) >= 1,
        timeout=15,
        what="the late write refused",
    )
    assert len(victim.events("lease_lost")) == 1
    assert fleet.doubles() == {}
    assert fleet.receiver.messages() == [], "a refused poll alerts nobody"


def test_postgresql_restarted_under_load_pauses_polls_without_a_false_alert(
    fleet: Fleet, pg_cluster: PgCluster
) -> None:
    """PostgreSQL stops: each daemon logs it once, stops polling (no provider request, no
    'unreachable' alert), and /healthz says so; it comes back: polls resume, nothing lost."""
    fleet.write_configs(2)
    for member in fleet.members:
        member.start()
    wait_until(  # both daemons running and holding some: not one before the other joined
        lambda: (
            all(fleet.held(m) for m in fleet.members)
            and sorted(a for m in fleet.members for a in fleet.held(m)) == ACCOUNTS
        ),
        timeout=20,
        what="a split",
    )
    pg_cluster.stop("fast")
    try:
        wait_until(
            lambda: all(m.get("/healthz")[0] == 503 for m in fleet.members),
            timeout=25,  # a call waits up to 10 s for a pooled connection before it fails
            what="/healthz saying the state is unavailable",
        )
        assert "state database unavailable" in fleet.members[0].get("/healthz")[1]
        paused = time.monotonic() + 1.0  # a poll under way may still ask its provider
        wait_until(lambda: time.monotonic() > paused + 3 * INTERVAL, timeout=15, what="slots")
        during = [t for a in ACCOUNTS for t in fleet.requests(a) if t > paused]
        assert during == [], "no poll while the state does not answer"
    finally:
        pg_cluster.start()
    back = time.monotonic()
    wait_until(lambda: fleet.polled_since(back) == set(ACCOUNTS), timeout=30, what="polls resumed")
    wait_until(  # the other may poll all accounts before this one's next probe (15 s at most)
        lambda: all(m.get("/healthz")[0] == 200 for m in fleet.members),
        timeout=20,
        what="/healthz healthy on every daemon",
    )
    for member in fleet.members:
        assert len(member.events("state_unavailable")) == 1
        assert len(member.events("state_available")) == 1
    assert fleet.receiver.messages() == [], "no false alert"
    assert fleet.doubles() == {}


def test_differing_configs_are_reported_and_nobody_polls_twice(fleet: Fleet) -> None:
    """One daemon reloads a changed config: both report the mismatch (log, metric,
    status), every account is still polled, none twice; the other's reload ends it."""
    fleet.write_configs(2)
    for member in fleet.members:
        member.start()
    wait_until(
        lambda: sorted(a for m in fleet.members for a in fleet.held(m)) == ACCOUNTS,
        timeout=20,
        what="a split",
    )
    first, second = fleet.members
    changed = "\n".join(
        line.replace("warning: 500", "warning: 600")
        for line in first.config.read_text().splitlines()
    )
    first.config.write_text(changed + "\n")
    first.signal(signal.SIGHUP)
    wait_until(
        lambda: all(m.metric("balancewatch_daemon_configs") == 2 for m in fleet.members),
        timeout=15,
        what="the mismatch exported",
    )
    mismatch = time.monotonic()
    assert second.events("config_mismatch")
    status = subprocess.run(
        [sys.executable, "-m", "balancewatch", "-c", str(second.config), "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert "CONFIG MISMATCH" in status.stdout
    wait_until(lambda: time.monotonic() > mismatch + 3 * INTERVAL, timeout=15, what="slots")
    assert fleet.polled_since(mismatch + INTERVAL) == set(ACCOUNTS), "none dropped"
    second.config.write_text(
        "\n".join(
            line.replace("warning: 500", "warning: 600")
            for line in second.config.read_text().splitlines()
        )
        + "\n"
    )
    second.signal(signal.SIGHUP)
    wait_until(
        lambda: all(m.metric("balancewatch_daemon_configs") == 1 for m in fleet.members),
        timeout=15,
        what="the configs agreeing again",
    )
    assert first.events("config_match")
    assert fleet.doubles() == {}
