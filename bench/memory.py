"""What the daemon's history cache weighs once full, which a run of minutes cannot show.

The daemon keeps each account's snapshots in memory (``daemon_cache.AccountCache``) for
``AccountPlan.history_window`` (the rules' longest ``within``/``window``) plus the previous
poll. This builds snapshots exactly as a poll does (the simulator's body ->
``loads_strict`` -> the provider's ``parse`` -> ``Snapshot``), weighs them with
``tracemalloc``, asks the real ``AccountPlan.history_window`` how much the bench's rule mix
keeps per account (from the bench's own config, parsed and planned by balancewatch), and
multiplies: the cache for N accounts once every window is full (an hour here).
"""

from __future__ import annotations

import tracemalloc
from collections import deque
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from balancewatch.model import Snapshot
from balancewatch.providers import base
from balancewatch.sim import DEFAULT_BALANCES, PROVIDERS, dumps, success_obj
from bench.workload import Account, daemon_config

SNAPSHOTS_PER_PROVIDER = 2_000
MIX = 15
"""The rule mix repeats every 15 accounts (a ``change`` rule on every 3rd, a
``held_increase`` on every 5th)."""


def _provider(name: str) -> base.Provider:
    cls = base.get_provider(name)
    settings: dict[str, object] = {"api_key": "k" * 16}
    if name == "thedex":
        settings["secret"] = "s" * 16
    return cls(cls.Settings(**settings))  # type: ignore[arg-type]


def sample_body(name: str) -> object:
    """A success answer of ``name`` with its default balances, decoded as a poll decodes it."""
    balances = {
        currency: {kind: Decimal(value) for kind, value in kinds.items()}
        for currency, kinds in DEFAULT_BALANCES[name].items()
    }
    return base.loads_strict(dumps(success_obj(name, balances)).encode())


def bytes_per_snapshot() -> dict[str, float]:
    """Bytes one cached snapshot holds, per provider (its Decimals, Balances, dicts)."""
    found: dict[str, float] = {}
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for name in PROVIDERS:
        provider = _provider(name)
        balances = {
            currency: {kind: Decimal(value) for kind, value in kinds.items()}
            for currency, kinds in DEFAULT_BALANCES[name].items()
        }
        body = dumps(success_obj(name, balances)).encode()
        account = f"acct-{name}"  # one string shared by every snapshot, as plan.name is
        kept: deque[Snapshot] = deque()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(SNAPSHOTS_PER_PROVIDER):
            taken = start + timedelta(minutes=i)
            kept.append(Snapshot(account, taken, provider.parse(base.loads_strict(body))))
        used = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        found[name] = used / len(kept)
    return found


def kept_per_account(interval: float) -> float:
    """Snapshots the daemon keeps per account, on average over the bench's rule mix."""
    from balancewatch.config import parse_config
    from balancewatch.poller import make_plan

    accounts = []
    for i in range(MIX):
        provider = PROVIDERS[i % len(PROVIDERS)]
        secret = f"secret-{i:08d}" if provider == "thedex" else None
        url = f"http://127.0.0.1:1/{provider}"
        accounts.append(
            Account(i, f"acct-{provider}-{i:05d}", provider, f"key-{i:08d}", secret, url)
        )
    text = daemon_config(
        accounts,
        db=Path("unused.db"),
        receiver_url="json://127.0.0.1:9/hook",
        interval=interval,
        timeout=min(10.0, interval * 0.8),
    )
    config = parse_config(text, environ={})
    windows = [make_plan(a, config.defaults).history_window for a in config.accounts]
    return sum(w.total_seconds() // interval + 1 for w in windows) / len(windows)


def projection(sizes: list[int], interval: float = 60.0) -> dict[str, object]:
    per = bytes_per_snapshot()
    mean = sum(per.values()) / len(per)
    kept = kept_per_account(interval)
    return {
        "bytes_per_snapshot": per,
        "mean_bytes_per_snapshot": mean,
        "snapshots_kept_per_account": kept,
        "interval_s": interval,
        "history_mb_when_full": {str(n): n * kept * mean / 1e6 for n in sizes},
    }
