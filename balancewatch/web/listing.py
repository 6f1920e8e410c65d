"""The accounts the page lists: the plans the daemon polls, and its disabled accounts.

The daemon keeps a lean plan per polled account and drops the config's account models
(:func:`balancewatch.poll.plan.plan_config`), all but the disabled accounts'. The page
lists both, as plans, sorted by name once per config (a reload makes a new config).
Without the daemon's plans (a test, a benchmark), the config's accounts are planned here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from balancewatch.config.load import Config
from balancewatch.poll.plan import AccountPlan, Planner


@dataclass(frozen=True)
class Listing:
    accounts: list[AccountPlan]
    """Every account, by name."""
    by_name: dict[str, AccountPlan]
    tags: list[str]

    @classmethod
    def of(cls, config: Config, plans: Mapping[str, AccountPlan] | None = None) -> Listing:
        planned = dict(plans or {})
        missing = [a for a in config.accounts if a.name not in planned]
        if missing:
            planner = Planner(config.defaults)
            planned.update((a.name, planner.plan(a)) for a in missing)
        accounts = sorted(planned.values(), key=lambda a: a.name)
        tags = sorted({t for a in accounts for t in a.tags})
        return cls(accounts, {a.name: a for a in accounts}, tags)


_CACHE: dict[tuple[int, int, int], tuple[Config, Listing]] = {}


def listing(config: Config, plans: Mapping[str, AccountPlan] | None = None) -> Listing:
    """:meth:`Listing.of`, once per config and plans (the last two are kept)."""
    key = (id(config), id(plans), len(plans or ()))
    found = _CACHE.get(key)
    if found is None or found[0] is not config:
        found = _CACHE[key] = (config, Listing.of(config, plans))
        while len(_CACHE) > 2:
            del _CACHE[next(iter(_CACHE))]
    return found[1]
