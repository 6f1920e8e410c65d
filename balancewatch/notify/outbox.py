"""Routing, wording and reliable delivery of notifications (DESIGN.md §7, RELIABILITY.md).

The outbox is the source of truth::

    poll -> decide() -> plan_deliveries() -> store.commit_poll()       one transaction
                                                  |
    deliver_due(): store.due_deliveries(now) <----+
      created_at + give_up_after <= now -> mark_gave_up (logged, counted)
      group by (poll_id, channel)       -> one message -> channels.send() (worker thread)
        sent   -> on_sent(ids, channel) -> mark_delivered    a crash between the two: 1 duplicate
        failed -> mark_failed(next_attempt_at = now + backoff)       kept in the store

Delivery is at-least-once: a message is marked only after the service accepted it, so a
crash can repeat one message (each carries its notification ids so the duplicate is
recognisable) but never lose one.

Routing (``routes:``): every route whose ``match`` takes the notification adds its
notifiers; with no routes every notifier gets everything. A notification no route takes
goes nowhere (it is still stored). Decisions where DESIGN.md is silent:

- ``send_resolved: false`` on a route: that route does not add its notifiers for
  ``resolved`` notifications (other matching routes still may).
- ``repeat`` on a route: reminders are produced by the alert lifecycle at the account's
  ``repeat``; a route can only refuse them. ``repeat`` of zero (or less) means no reminders
  through that route; any positive value lets them through at the account's pace (routing
  keeps no per-route clock, so it cannot thin them out further).
- ``system`` notifications (balancewatch about itself) go to every notifier, routes aside.

Wording (grouping, templates, Markdown or plain text): :func:`balancewatch.notify.compose.compose`.

Retries: 30 s after the first failure, doubling, at most 30 min apart, until
``notify.give_up_after`` after the notification was created (default 24 h); the last
retry is moved up to that deadline. A delivery still pending then is given up even if it
was never tried (the daemon was stopped that long): the news is stale, and a problem
that persists is reminded of by its alert's ``repeat`` anyway. A channel
that fails is not tried again in the same round: its later messages are marked failed
too, so one dead receiver costs one timeout per round, not one per message. Channels are
sent concurrently (at most :data:`MAX_PARALLEL_SENDS` at a time), so one that hangs does
not delay the others.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from balancewatch.channels.send import (
    Channel,
    SendResult,
    all_channels,
    channel_names,
    send,
)
from balancewatch.model import BalancewatchError, Severity
from balancewatch.notify.compose import ack_links, compose
from balancewatch.notify.wording import system_notification
from balancewatch.records import Delivery, Notification, PendingDelivery
from balancewatch.state import Store
from balancewatch.units import format_duration

if TYPE_CHECKING:
    from balancewatch.config.load import Config, Route

log = structlog.get_logger("balancewatch.notify")

BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_CAP = timedelta(minutes=30)
MAX_PARALLEL_SENDS = 4
BATCH = 200
"""Deliveries taken from the outbox per :func:`deliver_due` call."""

OnSent = Callable[[tuple[str, ...], str], None]


@dataclass
class DeliveryStats:
    """What one :func:`deliver_due` call did, counted in deliveries (notification x channel)."""

    messages: int = 0
    """Messages accepted by their service (one may carry several notifications)."""
    delivered: int = 0
    failed: int = 0
    """Deliveries that failed this round and will be retried."""
    gave_up: int = 0
    given_up: list[tuple[str, str]] = field(default_factory=list)
    """(notification id, channel) of each delivery given up."""


# ---------------------------------------------------------------- routing


def plan_deliveries(notifications: Iterable[Notification], config: Config) -> list[Delivery]:
    """One delivery per (notification, channel) the routes send it to, due at once."""
    channels = {name: channel_names(name, len(n.urls)) for name, n in config.notifiers.items()}
    return [
        Delivery(note.id, channel)
        for note in notifications
        for notifier in route(note, config)
        for channel in channels.get(notifier, ())
    ]


def route(note: Notification, config: Config) -> list[str]:
    """The names of the notifiers that get ``note``, in config order, each once."""
    if note.kind == "system" or not config.routes:
        return list(config.notifiers)
    chosen = {name: None for rule in config.routes if takes(rule, note) for name in rule.notify}
    return [name for name in config.notifiers if name in chosen]


def takes(rule: Route, note: Notification) -> bool:
    """Whether one route adds its notifiers for ``note``."""
    if not rule.match.matches(note.account, note.tags, note.severity):
        return False
    if note.kind == "resolved" and rule.send_resolved is False:
        return False
    no_reminders = rule.repeat is not None and rule.repeat <= timedelta(0)
    return not (note.kind == "repeat" and no_reminders)


# ---------------------------------------------------------------- delivery


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts + 1``-th failure: 30 s, 1 min, 2 min, ... 30 min."""
    return min(BACKOFF_FIRST * (1 << min(attempts, 16)), BACKOFF_CAP)


@dataclass(frozen=True)
class Batch:
    """The due deliveries of one poll to one channel: they go out as one message."""

    channel: str
    items: tuple[PendingDelivery, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(item.notification.id for item in self.items)

    @property
    def notifications(self) -> list[Notification]:
        return [item.notification for item in self.items]


def batches(pending: Iterable[PendingDelivery]) -> dict[str, list[Batch]]:
    """Per channel, one batch per poll, in outbox order (oldest first)."""
    grouped: dict[tuple[str, str], list[PendingDelivery]] = {}
    for item in pending:
        grouped.setdefault((item.delivery.channel, item.notification.poll_id), []).append(item)
    by_channel: dict[str, list[Batch]] = {}
    for (channel, _poll), items in grouped.items():
        by_channel.setdefault(channel, []).append(Batch(channel, tuple(items)))
    return by_channel


async def deliver_due(
    store: Store,
    config: Config,
    now: datetime,
    *,
    on_sent: OnSent | None = None,
    send_timeout: float | None = None,
    owner: str | None = None,
) -> DeliveryStats:
    """Send what the outbox holds for ``now``, mark each delivery, and count.

    ``owner`` (a daemon sharing the database with others): the due deliveries are claimed
    for it first (:meth:`~balancewatch.state.Store.claim_deliveries`), for
    :func:`delivery_lease`, so no other daemon sends them meanwhile; each mark presents its
    claim. Without an owner they are read as they are (one process alone).

    ``on_sent(notification_ids, channel)`` runs right after a service accepted a message
    and before the deliveries are marked (the crash tests kill the process there).
    ``send_timeout`` (seconds per send) defaults to ``notify.timeout`` (20 s). Store calls
    run in worker threads (SQLite fsyncs every commit). Raises only if the outbox cannot
    be read; a failed mark is logged and the delivery is simply sent again later.
    """
    timeout = _send_timeout(config, send_timeout)
    run = _Round(store, config, now, on_sent, timeout)
    if owner is None:
        pending = await asyncio.to_thread(store.due_deliveries, now, BATCH)
    else:
        lease = delivery_lease(timeout)
        pending = await asyncio.to_thread(store.claim_deliveries, owner, now, lease, BATCH)
    live = await run.give_up_expired(pending)
    queues = batches(live)
    outcomes = await asyncio.gather(
        *(run.channel(name, queue) for name, queue in queues.items()), return_exceptions=True
    )
    for name, error in zip(queues, outcomes, strict=True):
        if isinstance(error, Exception):  # a bug; the deliveries stay in the outbox
            log.error("delivery_channel_error", channel=name, error=repr(error))
        elif isinstance(error, BaseException):
            raise error
    return run.stats


def delivery_lease(send_timeout: float) -> float:
    """Seconds a delivery stays claimed: the send and its mark, twice over, and ten seconds.
    A daemon that dies mid-send leaves its claimed deliveries to another after that (one
    may then be sent twice: at-least-once, as a crash between a send and its mark)."""
    return 2 * send_timeout + 10


def _send_timeout(config: Config, override: float | None) -> float:
    if override is not None:
        return override
    return config.notify.timeout.total_seconds()


class _Round:
    """One :func:`deliver_due` call: its clock, its channels, its counts."""

    def __init__(
        self,
        store: Store,
        config: Config,
        now: datetime,
        on_sent: OnSent | None,
        timeout: float,
    ) -> None:
        self.store, self.config, self.now = store, config, now
        self.on_sent, self.timeout = on_sent, timeout
        self.channels = all_channels({n: c.urls for n, c in config.notifiers.items()})
        self.limit = asyncio.Semaphore(MAX_PARALLEL_SENDS)
        self.stats = DeliveryStats()
        self.links = ack_links(config.http)

    def deadline(self, note: Notification) -> datetime:
        return note.created_at + self.config.notify.give_up_after

    async def give_up_expired(self, pending: Iterable[PendingDelivery]) -> list[PendingDelivery]:
        live = []
        for item in pending:
            if self.now < self.deadline(item.notification):
                live.append(item)
                continue
            delivery, note = item.delivery, item.notification
            error = delivery.last_error or "never attempted"
            await self._write(
                self.store.mark_gave_up, note.id, delivery.channel, error, self.now, item.claim
            )
            self.stats.gave_up += 1
            self.stats.given_up.append((note.id, delivery.channel))
            log.error(
                "delivery_gave_up",
                notification_id=note.id,
                channel=delivery.channel,
                attempts=delivery.attempts,
                age=format_duration(self.now - note.created_at),
                last_error=error,
            )
        return live

    async def channel(self, name: str, queue: Sequence[Batch]) -> None:
        """The batches of one channel in order; after a failure the rest wait too."""
        for position, batch in enumerate(queue):
            result = await self._send(self.channels.get(name), batch)
            if result.ok:
                await self._delivered(batch)
                continue
            await self._failed(batch, result.reason)
            for later in queue[position + 1 :]:
                await self._failed(later, f"not attempted: {result.reason}")
            return

    async def _send(self, channel: Channel | None, batch: Batch) -> SendResult:
        if channel is None:
            return SendResult(False, "unknown", "no such channel in the config")
        message = compose(batch.notifications, self.config.notifiers[channel.notifier], self.links)
        return await send(
            channel,
            message,
            send_timeout=self.timeout,
            limit=self.limit,
            secrets=self.config.secrets,
        )

    async def _delivered(self, batch: Batch) -> None:
        if self.on_sent is not None:
            self.on_sent(batch.ids, batch.channel)
        for item in batch.items:
            nid = item.notification.id
            await self._write(self.store.mark_delivered, nid, batch.channel, self.now, item.claim)
        self.stats.messages += 1
        self.stats.delivered += len(batch.items)
        attempt = max(item.delivery.attempts for item in batch.items) + 1
        log.info("delivered", channel=batch.channel, ids=list(batch.ids), attempt=attempt)

    async def _failed(self, batch: Batch, reason: str) -> None:
        retry_at = self.now
        for item in batch.items:
            delivery, note = item.delivery, item.notification
            retry_at = min(self.now + backoff(delivery.attempts), self.deadline(note))
            await self._write(
                self.store.mark_failed, note.id, batch.channel, reason, retry_at, item.claim
            )
            self.stats.failed += 1
        log.warning(
            "delivery_failed",
            channel=batch.channel,
            ids=list(batch.ids),
            error=reason,
            attempt=max(item.delivery.attempts for item in batch.items) + 1,
            next_attempt_at=retry_at.isoformat(),
        )

    async def _write(self, method: Callable[..., None], *args: Any) -> None:
        """One outbox write in a worker thread; a failure is logged, never raised."""
        try:
            await asyncio.to_thread(method, *args)
        except BalancewatchError as exc:
            log.error("outbox_write_failed", operation=method.__name__, error=str(exc))


# ---------------------------------------------------------------- notify-test


def notify_test(
    config: Config,
    notifier_name: str | None = None,
    *,
    now: datetime | None = None,
    send_timeout: float | None = None,
) -> int:
    """``balancewatch notify-test``: a test message through each notifier (or one).

    Prints ``ok  NAME`` or ``FAIL NAME: reason`` per channel (never a URL); returns 0 if
    all went out, 1 if any failed, 2 for an unknown notifier name or none configured.
    """
    if notifier_name is not None and notifier_name not in config.notifiers:
        known = ", ".join(config.notifiers) or "none configured"
        print(f"no notifier named {notifier_name!r}; known: {known}", file=sys.stderr)
        return 2
    if not config.notifiers:
        print("no notifiers configured (add some under 'notifiers:')", file=sys.stderr)
        return 2
    chosen = [notifier_name] if notifier_name else list(config.notifiers)
    at = now or datetime.now(UTC)
    results = asyncio.run(_test_all(config, chosen, at, _send_timeout(config, send_timeout)))
    for channel, result in results:
        print(f"ok  {channel}" if result.ok else f"FAIL {channel}: {result.reason}", flush=True)
    return 0 if all(result.ok for _channel, result in results) else 1


async def _test_all(
    config: Config, names: Sequence[str], now: datetime, seconds: float
) -> list[tuple[str, SendResult]]:
    limit = asyncio.Semaphore(MAX_PARALLEL_SENDS)
    channels = all_channels({n: config.notifiers[n].urls for n in names}).values()

    async def one(channel: Channel) -> tuple[str, SendResult]:
        note = system_notification(
            "test message",
            f"notify-test from balancewatch on {socket.gethostname()}: if you can read "
            f"this, the notifier '{channel.notifier}' works.",
            now=now,
            severity=Severity.INFO,
        )
        message = compose([note], config.notifiers[channel.notifier])
        result = await send(
            channel, message, send_timeout=seconds, limit=limit, secrets=config.secrets
        )
        return channel.name, result

    return list(await asyncio.gather(*(one(channel) for channel in channels)))
