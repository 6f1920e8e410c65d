"""An account's plan: what polling, the rules and the messages need of a validated account.

The config's :class:`~balancewatch.config.models.Account` models are what validation
built: every key as written, each model with a dict and a fields-set of its own (~3.7 kB
an account). A plan holds what a poll reads: the account's name, its provider object
(which holds the provider's settings), its tags, its rules and its effective settings.
The daemon keeps plans and drops the models; ``check`` and ``replay`` use the same plans.

What accounts have in common is shared (:class:`Planner`): identical rule lists (frozen,
hashable specs) are one :class:`RuleSet`, identical effective settings one
:class:`~balancewatch.config.models.Effective`, and so the alert policy built from them;
at 10,000 accounts with a handful of rule mixes, the rules cost a few kB, not 28 MB.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from balancewatch import alerts
from balancewatch.config.load import Account, Config, Defaults, Effective
from balancewatch.providers import Provider
from balancewatch.rules.specs import RuleEntry, RuleSpec, rule_ids

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RuleSet:
    """An account's rules, their ids, and what follows from them alone."""

    entries: tuple[RuleEntry, ...]
    specs: tuple[RuleSpec, ...]
    """Each entry's rule, unwrapped once (``RuleEntry.spec`` searches its four keys)."""
    ids: tuple[str, ...]
    window: timedelta
    """How much history the rules need: the longest ``within``/``window``, else zero.

    Zero means "the previous snapshot only" (``change`` since the last poll, and the
    threshold's "was ... ago; ~N h left at the current rate" hint). The daemon keeps this
    much in memory per account, so it is what the rules need and no more."""
    consecutive: Mapping[str, int]
    """``for: N`` per rule id."""

    @classmethod
    def of(cls, entries: tuple[RuleEntry, ...]) -> RuleSet:
        spans = [timedelta(0)]
        for entry in entries:
            for attr in ("within", "window"):
                value = getattr(entry.spec, attr, None)
                if isinstance(value, timedelta):
                    spans.append(value)
        ids = tuple(rule_ids(list(entries)))
        needed = {rid: entry.spec.consecutive for rid, entry in zip(ids, entries, strict=True)}
        specs = tuple(entry.spec for entry in entries)
        return cls(entries, specs, ids, max(spans), needed)

    def __hash__(self) -> int:
        return hash(self.entries)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RuleSet) and self.entries == other.entries


@dataclass(frozen=True, slots=True)
class AccountPlan:
    """An account ready to poll: who it is, its provider, its rules, its settings."""

    name: str
    provider: Provider
    host: str
    """The host polled (per-host concurrency limits), one string for all its accounts."""
    tags: tuple[str, ...]
    rules: RuleSet
    effective: Effective
    policy: alerts.Policy
    enabled: bool = True
    """False only for a disabled account's plan, which the page lists and nothing polls."""

    @property
    def provider_name(self) -> str:
        return self.provider.name

    @property
    def history_window(self) -> timedelta:
        return self.rules.window

    @property
    def fingerprint(self) -> str:
        """A hash of what identifies the account's requests (credentials included, hashed):
        a rejected key's quarantine ends when it changes. Computed when asked (after a
        failure, on a reload), not kept."""
        return fingerprint(self.provider.name, self.provider.settings, self.provider.currency)

    def same_as(self, other: AccountPlan) -> bool:
        """Whether a reload left this account as it was (requests, rules, settings, tags)."""
        return (
            self.name == other.name
            and self.fingerprint == other.fingerprint
            and self.rules == other.rules
            and self.effective == other.effective
            and self.tags == other.tags
        )


class Planner:
    """Makes the plans of one config, one object for what accounts have in common."""

    def __init__(self, defaults: Defaults) -> None:
        self.defaults = defaults
        self._shared: dict[Any, Any] = {}
        self._rules: dict[tuple[RuleEntry, ...], RuleSet] = {}
        self._policies: dict[tuple[Effective, RuleSet], alerts.Policy] = {}

    def share(self, value: T) -> T:
        """The first value equal to ``value`` this planner saw."""
        found: T = self._shared.setdefault(value, value)
        return found

    def plan(self, account: Account) -> AccountPlan:
        effective = self.share(account.effective(self.defaults))
        rules = self._rules.get(account.rules)
        if rules is None:
            rules = self._rules[account.rules] = RuleSet.of(account.rules)
        policy = self._policies.get((effective, rules))
        if policy is None:
            policy = alerts.Policy(effective.repeat, effective.send_resolved, rules.consecutive)
            self._policies[effective, rules] = policy
        provider = account.build_provider()
        return AccountPlan(
            name=account.name,
            provider=provider,
            # Not provider.host: a value cached in each provider's __dict__ is ~200 B each.
            host=sys.intern(urlsplit(provider.base_url).netloc),
            tags=self.share(account.tags),
            rules=rules,
            effective=effective,
            policy=policy,
            enabled=account.enabled,
        )

    def plans(self, accounts: Iterable[Account]) -> list[AccountPlan]:
        return [self.plan(account) for account in accounts]


Plans = dict[str, AccountPlan]
"""Plans by account name."""


def plan_config(config: Config) -> tuple[Config, Plans, set[str]]:
    """What a long-running process keeps of a freshly loaded config: the config with only its
    disabled accounts' models (the page lists them; notifiers, routes and settings stay),
    the plans of its enabled accounts, and every credential to redact
    (:func:`redactable_secrets`)."""
    plans = Planner(config.defaults).plans(a for a in config.accounts if a.enabled)
    secrets = redactable_secrets(config, plans)
    disabled = tuple(a for a in config.accounts if not a.enabled)
    return config.model_copy(update={"accounts": disabled}), {p.name: p for p in plans}, secrets


def make_plan(account: Account, defaults: Defaults) -> AccountPlan:
    """Resolve one account of the config against ``defaults``."""
    return Planner(defaults).plan(account)


def fingerprint(provider: str, settings: Any, currency: str | None) -> str:
    """A hash of what identifies the account's requests (credentials included, hashed)."""
    raw = {k: _plain(v) for k, v in settings.__dict__.items()}
    text = json.dumps([provider, currency, raw], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    if hasattr(value, "get_secret_value"):
        return value.get_secret_value()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def redactable_secrets(config: Config, plans: Iterable[AccountPlan] | None = None) -> set[str]:
    """Every credential to keep out of logs: the config's, plus what providers know.

    Providers know credentials the config does not mark as secret (an http_json URL's
    ``?key=...`` written literally in the file), and httpx logs such URLs at INFO. With
    ``plans``, their providers are asked (no second provider object per account).
    """
    planned = {p.name: p.provider for p in plans or ()}
    providers = (planned.get(a.name) or a.build_provider() for a in config.accounts)
    return set(config.secrets) | {s for provider in providers for s in provider.secrets()}
