"""The daemon's side of sharing the accounts: a lease before each poll, heartbeats, the
state's availability, and the watchers of the watcher.

- :meth:`Sharing.acquire` at each tick: whether to poll, and the fencing token to write
  under (:mod:`~balancewatch.daemon.cluster` says who asks, :mod:`~balancewatch.daemon.claims`
  batches and keeps the leases). An account claimed from another daemon has its cached
  health, alert states and history read again from the store before deciding.
- :meth:`Sharing.lost`: a record refused by the fence (this daemon was paused or cut off
  past its lease): counted in ``balancewatch_lease_lost_total``, the account's cache
  dropped, logged once per episode.
- The state unavailable (PostgreSQL restarting, a locked SQLite file): logged once, polls
  paused (a failed claim or commit is not a failed poll: no provider request, no
  "unreachable" alert), ``/healthz`` unhealthy; heartbeats probe it with a growing backoff
  and everything resumes when it answers. The connection pool reconnects by itself.
- :meth:`Sharing.heartbeat_loop`: membership, config mismatch (logged and exported), the
  cluster-wide ``balancewatch_oldest_due_seconds``; :meth:`Sharing.ping_loop`: the optional
  ``heartbeat:`` URL, fetched while this daemon is healthy.

With SQLite (one daemon) the same path runs: one member, every account its own, a claim
round trip every few polls, batched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from balancewatch.daemon.claims import Leases
from balancewatch.daemon.cluster import (
    MISSED_HEARTBEATS,
    Membership,
    config_hash,
    heartbeat_period,
    new_member_id,
)
from balancewatch.daemon.logs import get_logger
from balancewatch.daemon.schedule import Ticker, next_slot
from balancewatch.model import StateError
from balancewatch.providers import Client

if TYPE_CHECKING:
    from collections.abc import Callable

    from balancewatch.config.load import Config
    from balancewatch.daemon.service import Daemon
    from balancewatch.poll.plan import AccountPlan

log = get_logger("balancewatch.daemon")

BACKOFF_MAX = 15.0
"""Seconds between probes of a state that does not answer, at most."""
LOST_EPISODE = 60.0
"""Refused records less than this apart are one episode, logged once."""
OVERDUE_EVERY = 15.0
PING_TIMEOUT = 10.0


def account_facts(plan: AccountPlan) -> list[Any]:
    """What the daemons must agree on about one account, for the config hash."""
    effective = plan.effective
    return [
        plan.name,
        plan.fingerprint,
        [entry.model_dump(mode="json") for entry in plan.rules.entries],
        list(plan.tags),
        *(str(getattr(effective, key)) for key in ("interval", "timeout", "jitter", "repeat")),
        effective.failures_before_alert,
        effective.send_resolved,
    ]


def plans_hash(config: Config, plans: Iterable[AccountPlan]) -> str:
    return config_hash(config, (account_facts(plan) for plan in plans))


def timing(plan: AccountPlan) -> tuple[float, float, float]:
    """(interval, timeout, jitter) of a plan, in seconds."""
    effective = plan.effective
    return (
        effective.interval.total_seconds(),
        effective.timeout.total_seconds(),
        effective.jitter.total_seconds(),
    )


class Sharing:
    """See the module docstring. ``daemon`` is read for its store, config, plans, cache
    and metrics; ``spawn`` runs a background task the daemon waits for at shutdown."""

    def __init__(
        self,
        daemon: Daemon,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        ticker: Ticker,
    ) -> None:
        self.d = daemon
        self.ticker = ticker
        self.idle: set[str] = set()
        """Accounts whose ticks this daemon has stopped: another live daemon polls them."""
        self.owner, host, pid = new_member_id()
        self.membership = Membership(self.owner, host, pid, plans_hash(daemon.config, ()))
        self.leases = Leases(self.owner, self._claim, self._release, spawn)
        self.down_since: float | None = None
        self._lost_at: float | None = None
        self._mismatch: tuple[str, ...] = ()
        self._overdue_at = 0.0
        self._period: float | None = None
        self._first_runs: set[str] = set()
        """Accounts whose quick first run is still to come."""
        self._skip_first_runs = False
        """Joined running daemons or a dead predecessor: no quick first run is made."""

    # ------------------------------------------------------------ at each tick

    async def acquire(self, plan: AccountPlan) -> int | None:
        """The fencing token to poll ``plan`` under now, or None: not this daemon's turn
        (another holds it, or should), or the state does not answer."""
        name: str = plan.name
        if self.down_since is not None:
            return None
        first = bool(self._first_runs) and name in self._first_runs
        if first:
            self._first_runs.discard(name)
            if self._skip_first_runs:
                return None
        if not self.membership.mine(name) and not self.leases.holds(name):
            return None
        lease, cover = self._lease(plan)
        try:
            claim = await self.leases.acquire(name, lease, cover)
        except StateError as error:
            self.unavailable(error)
            return None
        if claim is None:
            return None
        if claim.taken_from_another(self.owner):
            self.d.cache.forget(name)  # polled elsewhere meanwhile: read it all again
            if first and claim.previous_owner in self.membership.live:
                # A daemon started with this one and polled it since: its slot is next.
                if not self.membership.mine(name):
                    self.leases.release_later(name)
                return None
        return claim.token

    def _lease(self, plan: AccountPlan) -> tuple[float, float]:
        """(the lease to claim, what is left of it that a poll needs) in seconds: the
        poll's own commit, and the time until the next tick, which renews it if need be."""
        effective = plan.effective
        lease = self.d.config.state.account_lease(effective.interval, effective.timeout)
        interval, timeout, jitter = timing(plan)
        return lease.total_seconds(), max(timeout + 1.0, interval + jitter)

    def committed(self, plan: AccountPlan) -> None:
        """After a poll's record is written: hand the account over if it is now another
        live daemon's (it claims it at the next slot, so none is missed), else renew its
        lease in the background if it would not cover the next poll."""
        self.available()
        if not self.membership.mine(plan.name):
            self.leases.release_later(plan.name)
            return
        lease, cover = self._lease(plan)
        self.leases.renew_soon(plan.name, lease, cover + timing(plan)[0])

    def lost(self, name: str) -> None:
        """A record refused by the fence: another daemon holds the account now."""
        self.leases.drop(name)
        self.d.cache.forget(name)
        if self.d.metrics is not None:
            self.d.metrics.lease_lost.inc()
        now = time.monotonic()
        if self._lost_at is None or now - self._lost_at > LOST_EPISODE:
            log.warning(
                "lease_lost",
                account=name,
                reason="another daemon claimed the account since (this one was paused or "
                "cut off past its lease); this poll wrote nothing and alerted nobody",
            )
        self._lost_at = now

    def not_recorded(self, name: str, error: StateError) -> None:
        """A commit failed: what the store holds for the account is not known for sure
        (a connection lost mid-commit), so its cache and lease are read again."""
        self.leases.drop(name)
        self.d.cache.forget(name)
        self.unavailable(error)

    def forget(self, name: str) -> None:
        """An account left the config: give its lease up."""
        self.leases.release_later(name)

    # ------------------------------------------------------------ the state's health

    def unavailable(self, error: StateError) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.error("state_unavailable", error=str(error), polls="paused until it answers")
            if self.d.metrics is not None:
                self.d.metrics.state_up.set(0)

    def available(self) -> None:
        if self.down_since is not None:
            after = round(time.monotonic() - self.down_since, 1)
            self.down_since = None
            log.info("state_available", after_seconds=after, polls="resumed")
            if self.d.metrics is not None:
                self.d.metrics.state_up.set(1)

    def problem(self) -> str | None:
        if self.down_since is None:
            return None
        return f"state database unavailable for {time.monotonic() - self.down_since:.0f}s"

    # ------------------------------------------------------------ membership

    def reconfigure(self, config: Config, plans: Iterable[AccountPlan]) -> None:
        """A reload: the new config's hash (others see it at the next heartbeat)."""
        self.membership.config_hash = plans_hash(config, plans)
        self._period = None
        known = self.d.plans
        self.idle = {n for n in self.idle if n in known and not self.ticker.has(n)}

    def period(self) -> float:
        """Seconds between heartbeats, from the plans (again after each reload)."""
        if self._period is None:
            plans = self.d.plans.values()
            shortest = min((p.effective.interval for p in plans), default=None)
            self._period = heartbeat_period(shortest)
        return self._period

    async def join(self) -> None:
        """The first heartbeat, once the plans are made and before the first tick; end
        dead predecessors' leases.

        Joining daemons that are running, or taking over from a predecessor that died, the
        quick first runs are skipped: each account is next polled in its slot, by whoever
        holds it. A dead predecessor may have been polling an account when it died (a
        request made, its result never written), and an immediate first run would ask that
        provider a second time in the same slot."""
        self.membership.config_hash = plans_hash(self.d.config, self.d.plans.values())
        self._first_runs = set(self.d.plans)
        self._skip_first_runs = True  # until a heartbeat says nobody else is there
        try:
            await self.beat()
            others = [m.id for m in self.membership.members if m.id != self.owner]
            for old in self.membership.predecessors():
                ended = await self.d.db(self.d.store.release_accounts, old)
                await self.d.db(self.d.store.leave, old)
                log.info("predecessor_released", daemon=old, accounts=ended)
        except StateError as error:
            # The state stopped answering since it was opened: polls wait for it (the
            # heartbeats probe it again), with no quick first runs, not knowing who polls.
            self.unavailable(error)
            return
        # Without others, several may have started together, each seeing none of the
        # others yet: acquire() skips a first run another live daemon made meanwhile.
        self._skip_first_runs = bool(others)
        log.info("joined", daemon=self.owner, daemons=len(self.membership.live))

    async def beat(self) -> None:
        m, store = self.membership, self.d.store
        members = await self.d.db(
            lambda: store.heartbeat(m.me, host=m.host, pid=m.pid, config_hash=m.config_hash)
        )
        self.available()
        if m.update(members, MISSED_HEARTBEATS * self.period()):
            log.info("daemons_changed", live=list(m.live))
        self._retick()
        self._report_mismatch()
        metrics = self.d.metrics
        if metrics is None:
            return
        metrics.daemons.set(len(m.fresh))
        metrics.configs.set(m.configs)
        metrics.held.set(len(self.leases.held))
        if time.monotonic() - self._overdue_at >= OVERDUE_EVERY:
            self._overdue_at = time.monotonic()
            names = sorted(self.d.plans)
            metrics.oldest_due.set(await self.d.db(store.oldest_overdue, names))

    def _retick(self) -> None:
        """Tick only the accounts this daemon should hold, or still holds.

        Every daemon could tick every account and skip those it does not hold; at 10,000
        accounts and two daemons, each tick costs APScheduler's ~0.1 ms for nothing. So an
        account another live daemon should hold stops ticking here once it is not held;
        when the members change, it ticks again from its next slot, in step with the
        others. Cheap: a set and the cached rendezvous choice per account, per heartbeat."""
        m, held, now = self.membership, self.leases.held, self.d.clock()
        for name, plan in self.d.plans.items():
            wanted = m.mine(name) or name in held
            if wanted and name in self.idle:
                self.idle.discard(name)
                interval, jitter = plan.effective.interval, plan.effective.jitter
                self.ticker.add(name, interval, jitter, next_slot(name, interval, now))
            elif not wanted and name not in self.idle:
                self.idle.add(name)
                self.ticker.remove(name)

    def _report_mismatch(self) -> None:
        others = self.membership.mismatched()
        key = tuple(sorted({m.config_hash for m in others}))
        if key == self._mismatch:
            return
        self._mismatch = key
        if others:
            log.warning(
                "config_mismatch",
                mine=self.membership.config_hash,
                others=[f"{m.host}:{m.pid} {m.config_hash}" for m in others],
                meaning="daemons run different configs: each shares the accounts only with "
                "those running its own; reload them all",
            )
        else:
            log.info("config_match", config=self.membership.config_hash)

    async def heartbeat_loop(self) -> None:
        delay = self.period()
        while True:
            try:
                await self.beat()
            except StateError as error:
                self.unavailable(error)
                delay = min(max(delay, self.period()) * 2, BACKOFF_MAX)
            else:
                delay = self.period()
            await asyncio.sleep(delay)

    async def leave(self) -> None:
        """At shutdown: end this daemon's leases (the others take its accounts at their
        next slot) and its membership."""
        await self.leases.release_all()
        try:
            await self.d.db(self.d.store.release_accounts, self.owner)
            await self.d.db(self.d.store.leave, self.owner)
        except StateError as error:
            log.warning("leave_failed", error=str(error), leases="run out by themselves")

    # ------------------------------------------------------------ store calls

    async def _claim(self, wanted: Any) -> Any:
        return await self.d.db(self.d.store.claim_accounts, self.owner, wanted)

    async def _release(self, names: Sequence[str]) -> int:
        try:
            return await self.d.db(self.d.store.release_accounts, self.owner, names)
        except StateError as error:  # they run out by themselves: nothing is lost
            log.warning("release_failed", accounts=len(names), error=str(error))
            return 0

    # ------------------------------------------------------------ watching the watcher

    async def ping_loop(self, client: Client) -> None:
        """Fetch ``heartbeat.url`` every ``heartbeat.every`` while this daemon is healthy."""
        while True:
            beat = self.d.config.heartbeat
            if beat is None:  # a reload may add one
                await asyncio.sleep(5.0)
                continue
            problems = self.d.health_problems()
            if problems:
                log.warning("heartbeat_withheld", problems=problems)
            else:
                await self._ping(client, beat.url.get_secret_value())
            await asyncio.sleep(beat.every.total_seconds())

    async def _ping(self, client: Client, url: str) -> None:
        try:
            request = client.request("GET", url, {}, None)
            response = await asyncio.wait_for(client.send(request), PING_TIMEOUT)
            status = response.status_code
            await response.aclose()
        except Exception as error:  # a ping must never stop the daemon; it is retried
            log.warning("heartbeat_ping_failed", error=str(error) or type(error).__name__)
            return
        if status >= 300:
            log.warning("heartbeat_ping_refused", status=status)
