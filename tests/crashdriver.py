"""A balancewatch poll-and-deliver loop that SIGKILLs itself at a chosen step (crash tests).

Run as a real subprocess by ``test_delivery_crash.py``::

    python tests/crashdriver.py DB RECEIVER_URL ACCOUNT SCENARIO [--crash-at STEP]

It opens the SQLite state file ``DB`` and plays ``SCENARIO``: scripted snapshots of one
account, one poll every 5 minutes of simulated time, each poll going through the real path
(``poller.decide`` -> ``notify.plan_deliveries`` -> ``store.commit_poll`` ->
``notify.deliver_due`` to a ``json://`` receiver). On the last poll it kills itself with
SIGKILL at ``STEP``:

    before_commit   decided, nothing written
    after_commit    the poll and its outbox rows are committed, nothing sent
    after_send      the receiver accepted the message, the delivery is not marked (on_sent)
    after_mark      sent and marked

Started again without ``--crash-at`` it behaves like a restarted daemon: polls already
committed (``Health.last_poll_at``) are not decided again, the others are, and whatever the
outbox still holds is delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from balancewatch.config.load import Config, parse_config
from balancewatch.model import Balance, Snapshot
from balancewatch.notify.outbox import deliver_due, plan_deliveries
from balancewatch.poll.decide import ONE_SHOT_LOOKBACK, decide, recent_history
from balancewatch.poll.plan import AccountPlan, make_plan
from balancewatch.state.sqlite import SqliteStore

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
STEPS = ("before_commit", "after_commit", "after_send", "after_mark")

SCENARIOS: dict[str, list[tuple[str, str]]] = {
    # (available, held) TND per poll; the last poll is the one that crashes.
    "fire": [("6000", "0"), ("4000", "0")],  # warning fires
    "escalate": [("6000", "0"), ("4000", "0"), ("500", "0")],  # warning, then critical
    "resolve": [("4000", "0"), ("6000", "0")],  # fires, then resolves
    "event": [("6000", "0"), ("6000", "100")],  # 100 TND moves into escrow
}
EXPECTED = {"fire": 1, "escalate": 2, "resolve": 2, "event": 1}
"""Notifications each scenario must produce, crash or not."""

CONFIG = """
defaults: {{interval: 5m, timeout: 10s, jitter: 0s}}
notifiers:
  hook: "{url}"
accounts:
  - name: {account}
    provider: dhmad
    api_key: crash-driver-key
    currency: TND
    rules:
      - threshold: {{below: {{warning: 5000, critical: 1000}}}}
      - held_increase: {{by: {{amount: 50}}}}
"""


def crash_if(point: str | None, here: str) -> None:
    if point == here:
        os.kill(os.getpid(), signal.SIGKILL)


def committed(store: SqliteStore, account: str, at: datetime) -> bool:
    health = store.health(account)
    return health is not None and health.last_poll_at is not None and health.last_poll_at >= at


def poll_once(
    store: SqliteStore,
    config: Config,
    plan: AccountPlan,
    step: tuple[int, str, str],
    crash: str | None,
) -> None:
    """Decide one scripted poll (index, available, held) and commit it with its deliveries."""
    index, available, held = step
    at = T0 + index * STEP
    balance = Balance(available=Decimal(available), held=Decimal(held))
    snapshot = Snapshot(plan.name, at, {"TND": balance.with_derived_total()})
    stored = store.history(plan.name, at - max(plan.history_window, ONE_SHOT_LOOKBACK))
    history = recent_history(stored, plan.history_window, at)
    record, _result = decide(
        plan,
        snapshot,
        previous_health=store.health(plan.name),
        history=history,
        states=store.alert_states(plan.name),
        now=at,
        poll_id=f"{plan.name}-{index}",
    )
    record = replace(record, deliveries=plan_deliveries(record.notifications, config))
    crash_if(crash, "before_commit")
    store.commit_poll(record)
    crash_if(crash, "after_commit")


async def deliver(store: SqliteStore, config: Config, at: datetime, crash: str | None) -> None:
    def on_sent(ids: tuple[str, ...], channel: str) -> None:
        crash_if(crash, "after_send")

    await deliver_due(store, config, at, on_sent=on_sent, send_timeout=5.0)
    crash_if(crash, "after_mark")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("url")
    parser.add_argument("account")
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--crash-at", choices=STEPS)
    args = parser.parse_args(argv)
    steps = SCENARIOS[args.scenario]
    config = parse_config(CONFIG.format(url=args.url, account=args.account), environ={})
    plan = make_plan(config.accounts[0], config.defaults)
    last = len(steps) - 1
    with SqliteStore.open(args.db, now=T0) as store:
        for index, (available, held) in enumerate(steps):
            at = T0 + index * STEP
            if committed(store, plan.name, at):
                continue
            crash = args.crash_at if index == last else None
            poll_once(store, config, plan, (index, available, held), crash)
            asyncio.run(deliver(store, config, at, crash))
        asyncio.run(deliver(store, config, T0 + last * STEP, None))  # what the outbox holds
    return 0


if __name__ == "__main__":
    sys.exit(main())
