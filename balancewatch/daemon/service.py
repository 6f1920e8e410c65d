"""``balancewatch run``: the scheduler wiring, signals, reload and the systemd protocol.

One asyncio loop runs everything:

- :class:`~balancewatch.daemon.schedule.Ticker` (APScheduler 3) runs each account's poll
  once per interval in the account's own slot, after a quick first run.
- Polls share one httpx client, bounded in total and per provider host (semaphores).
- Store calls run on one dedicated worker thread: commits fsync (``synchronous=FULL``),
  which must not stall the loop; records are written in groups
  (:mod:`~balancewatch.daemon.commits`).
- Notifications are delivered by a separate task, woken after each poll that wrote some,
  and every few seconds for retries.
- SIGTERM/SIGINT: stop scheduling, let in-flight polls and deliveries finish (bounded by
  :data:`STOP_GRACE`), exit 0. SIGHUP: reload (parse, validate, swap; reschedule only what
  changed); a broken new config is logged, counted, recorded in the state file for
  ``status``, and the old one keeps running.
- ``READY=1`` after the first schedule, watchdog pings from the loop itself.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from balancewatch.config.load import Config, default_config_path, load_config, state_location
from balancewatch.daemon import heap
from balancewatch.daemon.cache import AccountCache
from balancewatch.daemon.commits import GroupCommit
from balancewatch.daemon.delivery import DELIVERY_TICK, deliver_round, delivery_loop
from balancewatch.daemon.logs import get_logger, setup_logging
from balancewatch.daemon.metrics import Heartbeat, Metrics
from balancewatch.daemon.observe import log_poll
from balancewatch.daemon.page import start_page
from balancewatch.daemon.schedule import Ticker, first_round, first_run_spread, phase
from balancewatch.daemon.sdnotify import Notifier as SdNotifier
from balancewatch.daemon.sharing import Sharing
from balancewatch.model import ConfigError, ProviderError, Severity, Snapshot, StateError
from balancewatch.notify import outbox as notify
from balancewatch.notify.wording import system_notification
from balancewatch.poll.decide import decide, may_poll, poll
from balancewatch.poll.plan import AccountPlan, Plans, plan_config
from balancewatch.providers import make_client
from balancewatch.redaction import REDACTOR
from balancewatch.state import LeaseLost, Store, open_store

if TYPE_CHECKING:
    from balancewatch.web.app import WebServer

T = TypeVar("T")
log = get_logger("balancewatch.daemon")

STOP_GRACE = 10.0
"""Seconds SIGTERM waits for in-flight polls and deliveries."""
MAX_CONCURRENT_POLLS = 16
"""httpx slows sharply past a few dozen concurrent requests (pool contention): measured
400 polls at 10 concurrent in 0.5 s, at 100 concurrent in 0.9-5 s."""
MAX_PER_HOST = 8
PRUNE_EVERY = timedelta(hours=6)
POOL_SIZE = 4
"""PostgreSQL connections, and database threads: claims, commits, deliveries and
heartbeats overlap instead of queueing behind each other."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class Daemon:
    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        config_path: Path,
        plans: Plans | None = None,
        clock: Callable[[], datetime] = utcnow,
        environ: dict[str, str] | None = None,
    ) -> None:
        """``config`` as loaded, or with ``plans`` as ``plan_config`` gave them."""
        if config.unresolved:
            raise ValueError("a config loaded without its secrets cannot run the daemon")
        if plans is None:
            config, plans, secrets = plan_config(config)
            REDACTOR.update(secrets)
        self.config = config
        self._loaded: Plans = plans  # scheduled by main()
        self.store = store
        self.config_path = config_path
        self.clock = clock
        self.sd = SdNotifier(environ)
        # Only `http:` serves them, and it is read once, at start (a reload neither starts
        # nor stops the endpoint), so the metrics exist for the daemon's life or not at all.
        self.metrics = Metrics() if config.http is not None else None
        self.heartbeat = Heartbeat()
        self.plans: dict[str, AccountPlan] = {}
        self.cache = AccountCache()
        self.stopping = asyncio.Event()
        self.wake_delivery = asyncio.Event()
        self.inflight: set[asyncio.Task[Any]] = set()
        # SQLite writes one at a time; PostgreSQL's pool has a connection per thread.
        threads = 1 if config.state.url is None else POOL_SIZE
        self._db = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="balancewatch-db")
        self._global = asyncio.Semaphore(MAX_CONCURRENT_POLLS)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self.commits = GroupCommit(
            lambda records: self.db(self.store.commit_polls, records), self._spawn
        )
        self._ticker = Ticker(self.poll_account)
        self.sharing = Sharing(self, self._spawn, self._ticker)
        self._client: Any = None
        self.web: WebServer | None = None
        self.serving = asyncio.Event()

    # ------------------------------------------------------------ plumbing

    async def db(self, func: Callable[..., T], *args: Any) -> T:
        """Run a store call on the database thread (commits fsync; the loop must not wait)."""
        return await asyncio.get_running_loop().run_in_executor(self._db, func, *args)

    def _host_limit(self, plan: AccountPlan) -> asyncio.Semaphore:
        return self._hosts.setdefault(plan.host, asyncio.Semaphore(MAX_PER_HOST))

    # ------------------------------------------------------------ lifecycle

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload()))
        self._client = make_client()
        await self._startup_notices()
        if not await start_page(self):  # the status page, /metrics, /healthz
            await self._client.aclose()
            return 1
        self._apply_plans(self._loaded)
        self._loaded = {}
        await self.sharing.join()  # the members known before the first tick
        self._ticker.start()
        tasks = [
            asyncio.create_task(delivery_loop(self), name="delivery"),
            asyncio.create_task(self.sharing.heartbeat_loop(), name="heartbeat"),
            asyncio.create_task(self.sharing.ping_loop(self._client), name="ping"),
            asyncio.create_task(self._watchdog_loop(), name="watchdog"),
            asyncio.create_task(self._housekeeping_loop(), name="housekeeping"),
            asyncio.create_task(heap.settle_after(first_round(self.plans.values())), name="settle"),
        ]
        self.sd.ready(self._status_line())
        log.info("started", accounts=len(self.plans), config=str(self.config_path))
        await self.stopping.wait()
        await self._shutdown(tasks)
        return 0

    async def _shutdown(self, tasks: list[asyncio.Task[Any]]) -> None:
        self.sd.stopping()
        log.info("stopping", inflight=len(self.inflight))
        # pause, not shutdown: APScheduler's shutdown() cancels the runs in progress, and
        # a poll cut off mid-answer would be neither recorded nor retried until restart.
        self._ticker.pause()
        if self.inflight:
            await asyncio.wait(list(self.inflight), timeout=STOP_GRACE)
        self._ticker.shutdown()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:  # one last delivery round for what the final polls wrote
            await asyncio.wait_for(deliver_round(self), timeout=STOP_GRACE / 2)
        except (TimeoutError, StateError) as error:
            log.warning("final_delivery_incomplete", error=str(error))
        await self.sharing.leave()
        await self._client.aclose()
        if self.web is not None:
            await self.web.stop()
        self._db.shutdown(wait=True)
        self.sd.close()
        log.info("stopped")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)

    async def _startup_notices(self) -> None:
        if self.store.reset_reason:
            note = system_notification(
                "state reset: a repeat notification is possible",
                self.store.reset_reason,
                now=self.clock(),
                severity=Severity.WARNING,
            )
            deliveries = notify.plan_deliveries([note], self.config)
            await self.db(self.store.enqueue, [note], deliveries)
            log.warning("state_reset", reason=self.store.reset_reason)

    # ------------------------------------------------------------ scheduling

    def _apply_plans(self, new: Plans) -> None:
        """Schedule new accounts, reschedule changed ones, drop removed ones. An account a
        reload left as it was keeps its plan object (and the cache what it read for it)."""
        for name in set(self.plans) - set(new):
            self._ticker.remove(name)
            self.cache.forget(name)
            self.sharing.forget(name)
            if self.metrics is not None:
                self.metrics.forget(name)
            del self.plans[name]
        for name, plan in new.items():
            old = self.plans.get(name)
            if old is not None and old.same_as(plan):
                continue
            self.plans[name] = plan
            timing = (plan.effective.interval, plan.effective.jitter)
            if old is not None and (old.effective.interval, old.effective.jitter) == timing:
                continue
            if old is not None:
                self._ticker.remove(name)
            spread = first_run_spread(len(new), plan.effective.interval)
            first = self.clock() + phase(name) * spread
            self._ticker.add(name, plan.effective.interval, plan.effective.jitter, first)

    async def reload(self) -> None:
        self.sd.reloading()
        try:
            path = self.config_path
            config, plans, secrets = await asyncio.to_thread(lambda: plan_config(load_config(path)))
        except ConfigError as error:
            if self.metrics is not None:
                self.metrics.last_reload_ok.set(0)
            await self.db(self.store.set_meta, "last_reload_ok", "0")
            log.error("reload_failed", problems=error.problems, kept="previous config")
            self.sd.ready(self._status_line() + "; last reload FAILED")
            return
        REDACTOR.update(secrets)
        self.config = config
        self._apply_plans(plans)
        self.sharing.reconfigure(config, self.plans.values())
        heap.settle()
        if self.metrics is not None:
            self.metrics.last_reload_ok.set(1)
        await self.db(self.store.set_meta, "last_reload_ok", "1")
        log.info("reloaded", accounts=len(self.plans))
        self.sd.ready(self._status_line())

    # ------------------------------------------------------------ polling

    async def poll_account(self, name: str) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.inflight.add(task)
            task.add_done_callback(self.inflight.discard)
        plan = self.plans.get(name)
        if plan is None or self.stopping.is_set():
            return
        now = self.clock()
        scheduled = self._ticker.due_at(name)
        late_ms = round((now - scheduled).total_seconds() * 1000, 1) if scheduled else None
        fence = await self.sharing.acquire(plan)  # None: another daemon's turn
        if fence is None:
            return
        try:
            await self.cache.ensure(name, plan, self.store, self.db, now)
        except StateError as error:  # what the account's alerts were is unknown: no poll
            self.sharing.unavailable(error)
            return
        now = self.clock()
        if not may_poll(plan, self.cache.health_of(name), now):
            log.debug("poll_skipped", account=name, reason="backoff")
            return
        started = time.monotonic()
        async with self._global, self._host_limit(plan):
            outcome = await poll(plan, self._client, now)
        ms = round((time.monotonic() - started) * 1000, 1)
        await self._record(plan, outcome, now, ms, late_ms, fence)

    async def _record(
        self,
        plan: AccountPlan,
        outcome: Snapshot | ProviderError,
        now: datetime,
        ms: float,
        late_ms: float | None = None,
        fence: int | None = None,
    ) -> None:
        name = plan.name
        try:
            silences = await self.cache.silences(self.store, self.db, now)
            record, _ = decide(
                plan,
                outcome,
                previous_health=self.cache.health_of(name),
                history=self.cache.history_for(name, plan, now),
                states=self.cache.states.get(name, {}),
                now=now,
                poll_id=f"{name}-{int(now.timestamp() * 1000)}",
                silenced=lambda rule: any(s.covers(name, rule, now) for s in silences),
                acked=self.cache.acked,
            )
            deliveries = notify.plan_deliveries(record.notifications, self.config)
            record = replace(record, deliveries=deliveries, fence=fence)
            await self.commits.commit(record)
        except LeaseLost:  # paused past the lease: another daemon polls it now
            self.sharing.lost(name)
            return
        except StateError as error:  # locked or failing disk: retry on the next poll
            log.error("poll_not_recorded", account=name, error=str(error))
            self.sharing.not_recorded(name, error)
            return
        self.sharing.committed(plan)
        self.cache.remember(record)
        self._observe(plan, outcome, ms, len(record.notifications), late_ms)
        if record.notifications:
            self.wake_delivery.set()

    def _observe(
        self,
        plan: AccountPlan,
        outcome: Snapshot | ProviderError,
        ms: float,
        notes: int,
        late_ms: float | None,
    ) -> None:
        self.heartbeat.last_poll = time.monotonic()
        if self.metrics is not None:
            firing = self.cache.firing_counts()
            self.metrics.observe_poll(plan.name, plan.provider_name, outcome, ms / 1000, firing)
        log_poll(plan.name, outcome, ms, late_ms, notes)

    async def _watchdog_loop(self) -> None:
        interval = self.sd.watchdog_interval or 1.0
        while True:
            self.heartbeat.loop = time.monotonic()
            if self.sd.watchdog_interval:
                self.sd.watchdog()
            await asyncio.sleep(min(interval, 1.0))

    async def _housekeeping_loop(self) -> None:
        while True:
            now = self.clock()
            try:
                removed = await self.db(self.store.prune, now - self.config.state.keep)
                log.info("pruned", rows=removed)
            except StateError as error:
                log.error("prune_failed", error=str(error))
            heap.settle()
            self.sd.status(self._status_line())
            await asyncio.sleep(PRUNE_EVERY.total_seconds())

    # ------------------------------------------------------------ health

    def _status_line(self) -> str:
        counts = self.cache.firing_counts()
        firing = sum(counts.values())
        return f"{len(self.plans)} account(s), {firing} alert(s) firing"

    def health_problems(self) -> list[str]:
        now = time.monotonic()
        state = self.sharing.problem()
        problems = [state] if state else []
        if now - self.heartbeat.loop > 15:
            problems.append(f"event loop stuck for {now - self.heartbeat.loop:.0f}s")
        intervals = [p.effective.interval.total_seconds() for p in self.plans.values()]
        last = self.heartbeat.last_poll or self.heartbeat.started
        if intervals and now - last > 3 * min(intervals) + 30:
            problems.append(f"nothing polled for {now - last:.0f}s")
        if now - self.heartbeat.last_delivery_run > 6 * DELIVERY_TICK + 60:
            problems.append("outbox not processed for over a minute")
        return problems


def run(config_path: Path | None, *, log_level: str | None = None) -> int:
    """Entry point of ``balancewatch run``: load, open the store, serve until told to stop."""
    path = config_path or default_config_path(os.environ)
    setup_logging(log_level or "info")
    try:
        config = load_config(path)
    except ConfigError as error:
        for line in error.problems:
            log.error("config_error", problem=line)
        return 2
    config, plans, secrets = plan_config(config)
    REDACTOR.update(secrets)
    setup_logging(log_level or config.logging.level)
    try:
        store = open_store(state_location(config, os.environ), now=utcnow(), pool_size=POOL_SIZE)
    except StateError as error:
        log.error("state_error", error=str(error))
        return 1
    try:
        return asyncio.run(Daemon(config, store, config_path=path, plans=plans).main())
    finally:
        store.close()
