"""Per-poll cost of the history and the rules for a 1-hour against a 24-hour look-back.

``python -m bench.window [--out F.json]`` polls one account through the daemon's own path,
without the network: ``AccountCache.history_for`` (the history the rules read), ``decide``
(rules, alert lifecycle, messages) and ``AccountCache.remember`` (the poll kept), at a
one-minute interval, once the window is full (60 polls for 1 h, 1,440 for 24 h). The rules
are a threshold (below 100/50, whose "~N h left" hint reads the history), a ``change`` drop
of 50% ``within`` the window and a ``runway`` over the window: every rule that looks back
looks back the whole window. Two balance patterns: steady (the simulator's: an unchanged
amount on every poll) and changing (the amount moves on every poll, up and down, so every
poll is a point of its own). CPU time per poll is the median of several rounds
(``time.process_time``), so a busy machine inflates it less than a wall-clock figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from balancewatch.config.load import parse_config
from balancewatch.daemon.cache import AccountCache
from balancewatch.model import Balance, Snapshot
from balancewatch.poll.decide import decide
from balancewatch.poll.plan import make_plan
from balancewatch.records import AlertState, Health

START = datetime(2025, 1, 1, tzinfo=UTC)
INTERVAL = timedelta(minutes=1)
WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24)}
TIMED_POLLS = 300
ROUNDS = 9

CONFIG = """\
defaults: {{interval: 1m}}
accounts:
  - name: shop
    provider: oneclickdz
    api_key: key-0123456789
    rules:
      - threshold: {{below: {{warning: 100, critical: 50}}, clear_margin: 10}}
      - change: {{drop: {{percent: 50}}, within: {window}}}
      - runway: {{under: {{warning: 3d, critical: 1d}}, window: {window}}}
"""


def amount(n: int, changing: bool) -> Decimal:
    """The balance of poll ``n``: 5000 throughout, or a slow decline with a wobble."""
    if not changing:
        return Decimal("5000.00")
    return Decimal(500000 - 7 * n + (n % 5) * 11) / 100


class Account:
    """One account polled every minute through the cache, as ``Daemon._record`` does."""

    def __init__(self, window: str, changing: bool) -> None:
        config = parse_config(CONFIG.format(window=window), environ={})
        self.plan = make_plan(config.accounts[0], config.defaults)
        self.cache = AccountCache()
        self.changing = changing
        self.health: Health | None = None
        self.states: dict[str, AlertState] = {}
        self.n = 0

    def poll(self) -> None:
        now = START + self.n * INTERVAL
        snapshot = Snapshot("shop", now, {"DZD": Balance(available=amount(self.n, self.changing))})
        record, _ = decide(
            self.plan,
            snapshot,
            previous_health=self.health,
            history=self.cache.history_for("shop", self.plan, now),
            states=self.states,
            now=now,
            poll_id=str(self.n),
        )
        self.cache.remember(record)
        self.health = record.health
        self.states.update({s.key: s for s in record.alerts})
        self.n += 1


def measure(rounds: int = ROUNDS) -> dict[str, Any]:
    """Every case filled first, then timed in turns, round after round: a busy spell of the
    machine falls on every case alike, and the median of each case's rounds is kept."""
    accounts: dict[str, Account] = {}
    for pattern, changing in (("steady", False), ("changing", True)):
        for window, span in WINDOWS.items():
            account = accounts[f"{window} {pattern}"] = Account(window, changing)
            for _ in range(int(span / INTERVAL) + 1):
                account.poll()
    timed: dict[str, list[float]] = {name: [] for name in accounts}
    for _ in range(rounds):
        for name, account in accounts.items():
            started = time.process_time()
            for _ in range(TIMED_POLLS):
                account.poll()
            timed[name].append((time.process_time() - started) / TIMED_POLLS * 1e6)
    return {
        name: {
            "median_us": statistics.median(values),
            "rounds_us": values,
            "kept_polls": len(accounts[name].cache.history["shop"]),
        }
        for name, values in timed.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.window", description=__doc__)
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    results = measure()
    for name, figures in results.items():
        print(f"{name:14s} {figures['median_us']:8.1f} µs per poll (history + rules + remember)")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
