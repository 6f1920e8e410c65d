"""What the daemon's history cache weighs once full, which a run of minutes cannot show.

The daemon keeps each account's recent polls in memory (``daemon_cache.AccountCache``) for
``AccountPlan.history_window`` (the rules' longest ``within``/``window``) plus the previous
poll, as the rules read them: poll times, and only the amounts of the kinds and currencies
the account's rules name. This builds snapshots exactly as a poll does (the simulator's
body -> ``loads_strict`` -> the provider's ``parse`` -> ``Snapshot``), runs them through a
real ``AccountCache`` for the bench's rule mix (the bench's own config, parsed and planned
by balancewatch) until every window is full (an hour here), and weighs what the cache
holds with ``tracemalloc``: once with the balances as the simulator serves them (unchanged
between polls) and once with the available amount changing on every poll (the worst case:
no two polls share an amount). ``bytes_per_snapshot`` is what one whole ``Snapshot``
weighs, which is what the cache held per poll before it kept only the amounts.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections import deque
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from balancewatch import providers as base
from balancewatch.daemon.cache import AccountCache
from balancewatch.model import Snapshot
from balancewatch.poll.plan import AccountPlan
from balancewatch.providers.reading import loads_strict
from balancewatch.records import Health, PollRecord
from balancewatch.sim.server import DEFAULT_BALANCES, PROVIDERS, dumps, success_obj
from bench.workload import Account, daemon_config

SNAPSHOTS_PER_PROVIDER = 2_000
MIX = 15
"""The rule mix repeats every 15 accounts (a ``change`` rule on every 3rd, a
``held_increase`` on every 5th)."""
MIXES_WEIGHED = 20
"""How many times the mix is weighed (300 accounts), for a stable mean."""
START = datetime(2025, 1, 1, tzinfo=UTC)


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
    return loads_strict(dumps(success_obj(name, balances)).encode())


def bytes_per_snapshot() -> dict[str, float]:
    """Bytes one whole snapshot holds, per provider (its Decimals, Balances, dicts): what
    the cache kept per poll before it kept only the amounts the rules read."""
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
            kept.append(Snapshot(account, taken, provider.parse(loads_strict(body))))
        used = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        found[name] = used / len(kept)
    return found


def mix_plans(interval: float) -> list[AccountPlan]:
    """The bench's accounts of one rule mix, parsed and planned by balancewatch."""
    from balancewatch.config.load import parse_config
    from balancewatch.poll.plan import make_plan

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
    return [make_plan(a, config.defaults) for a in config.accounts]


def kept_per_account(interval: float) -> float:
    """Polls the daemon keeps per account, on average over the bench's rule mix."""
    windows = [p.history_window for p in mix_plans(interval)]
    return sum(w.total_seconds() // interval + 1 for w in windows) / len(windows)


def _bodies(name: str, polls: int, changing: bool) -> list[bytes]:
    """``polls`` answers of provider ``name``: all alike, or each with its own amounts."""
    bodies = []
    for n in range(polls if changing else 1):
        balances = {
            currency: {
                kind: Decimal(value) + (Decimal(n) / 100 if kind == "available" else 0)
                for kind, value in kinds.items()
            }
            for currency, kinds in DEFAULT_BALANCES[name].items()
        }
        bodies.append(dumps(success_obj(name, balances)).encode())
    return bodies if changing else bodies * polls


def _fill(cache: AccountCache, plan: AccountPlan, bodies: list[bytes], interval: float) -> None:
    """Poll ``plan`` once per body, as the daemon does: history for the rules, then remember."""
    for n, body in enumerate(bodies):
        now = START + timedelta(seconds=n * interval)
        cache.history_for(plan.name, plan, now)
        snapshot = Snapshot(plan.name, now, plan.provider.parse(loads_strict(body)))
        cache.remember(PollRecord(plan.name, now, snapshot, Health(plan.name)))


def bytes_per_account(interval: float, *, changing: bool) -> float:
    """What the cache holds per account once every window is full, over the rule mix."""
    plans = mix_plans(interval) * MIXES_WEIGHED
    polls = [int(p.history_window.total_seconds() // interval) + 2 for p in plans]
    bodies = {p.provider_name: _bodies(p.provider_name, max(polls), changing) for p in plans}
    renamed = [replace(p, name=f"{p.name}-{copy}") for copy, p in enumerate(plans)]
    for plan in renamed:
        plan.history_window  # noqa: B018  (computed once per plan: plan memory, not history)
    for plan in plans[:MIX]:  # warm the parsers' and json's caches, which are not history
        _fill(AccountCache(), plan, bodies[plan.provider_name][:2], interval)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    cache = AccountCache()
    for plan, count in zip(renamed, polls, strict=True):
        _fill(cache, plan, bodies[plan.provider_name][:count], interval)
    cache.health.clear()  # kept before the cache weighed less, and not history
    cache.states.clear()
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used / len(renamed)


def projection(sizes: list[int], interval: float = 60.0) -> dict[str, object]:
    per = bytes_per_snapshot()
    mean = sum(per.values()) / len(per)
    kept = kept_per_account(interval)
    steady = bytes_per_account(interval, changing=False)
    changing = bytes_per_account(interval, changing=True)
    return {
        "bytes_per_snapshot": per,
        "mean_bytes_per_snapshot": mean,
        "snapshots_kept_per_account": kept,
        "interval_s": interval,
        "bytes_per_account": steady,
        "bytes_per_account_changing_every_poll": changing,
        "bytes_per_account_as_whole_snapshots": kept * mean,
        "history_mb_when_full": {str(n): n * steady / 1e6 for n in sizes},
        "history_mb_when_full_changing_every_poll": {str(n): n * changing / 1e6 for n in sizes},
    }
