"""The daemon's delivery task: the outbox's due deliveries, claimed and sent.

Woken after each poll that wrote notifications, and every :data:`DELIVERY_TICK` seconds
for retries and for what other daemons wrote. Deliveries are claimed for this daemon
before they are sent (:func:`~balancewatch.notify.outbox.deliver_due` with an owner), so
two daemons never send the same one; on SQLite the claim is as cheap and changes nothing.
While the state does not answer, rounds wait (the sharing logs it once).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

from balancewatch.model import StateError
from balancewatch.notify import outbox as notify

if TYPE_CHECKING:
    from balancewatch.daemon.service import Daemon

DELIVERY_TICK = 5.0


async def deliver_round(daemon: Daemon) -> None:
    """One round: send what is due, count, and export the outbox's depth."""
    stats = await notify.deliver_due(
        daemon.store, daemon.config, daemon.clock(), owner=daemon.sharing.owner
    )
    daemon.heartbeat.last_delivery_run = time.monotonic()
    if daemon.metrics is not None:
        daemon.metrics.delivery_failures.inc(stats.failed)
        daemon.metrics.gave_up.inc(stats.gave_up)
        daemon.metrics.outbox.set(await daemon.db(daemon.store.outbox_depth))


async def delivery_loop(daemon: Daemon) -> None:
    # Not `while True`: Python 3.11's wait_for can swallow a cancellation that arrives
    # as the event is set (a poll finishing during shutdown), and the loop must end.
    while not daemon.stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(daemon.wake_delivery.wait(), timeout=DELIVERY_TICK)
        daemon.wake_delivery.clear()
        if daemon.sharing.down_since is not None:
            continue
        try:
            await deliver_round(daemon)
        except StateError as error:
            daemon.sharing.unavailable(error)
