"""One poll of one account, from request to the record the store commits.

    fetch (providers) -> rules -> alerts lifecycle -> messages -> PollRecord

:func:`poll` does the network part; :func:`decide` is pure: given the outcome, the stored
alert states, health and history, it returns what to commit (snapshot, health, alert
changes, notifications) in one :class:`PollRecord`. ``check``, ``replay`` and the daemon
all go through here, so they agree on what fires.

Backoff lives in ``Health.not_before``: after a failure the account is not asked again
before it, whatever the schedule says. Rejected credentials quarantine the account for
:data:`AUTH_QUARANTINE` until its config changes (some providers lock out the whole IP
after a few bad keys); a 429 waits for its Retry-After.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from balancewatch import alerts
from balancewatch.config.load import Account, Config, Defaults
from balancewatch.model import AuthError, ProviderError, RateLimited, Snapshot
from balancewatch.notify import wording as messages
from balancewatch.providers import Client, Provider, fetch
from balancewatch.records import AlertState, Health, PollRecord
from balancewatch.rules import RuleContext, RuleResult, evaluate_rules
from balancewatch.rules import health as health_rules
from balancewatch.rules.specs import RuleEntry

ONE_SHOT_LOOKBACK = timedelta(days=1)
"""History that one-shot commands (check, replay) read from the store: one account, once,
so a day is cheap, and it finds the previous poll whatever the interval."""
AUTH_QUARANTINE = timedelta(minutes=15)
MAX_BACKOFF = timedelta(minutes=15)
MAX_RATE_LIMIT_WAIT = timedelta(hours=1)


@dataclass(frozen=True)
class AccountPlan:
    """An account with every default resolved and its provider instantiated."""

    name: str
    provider_name: str
    provider: Provider
    tags: tuple[str, ...]
    rules: tuple[RuleEntry, ...]
    rule_ids: tuple[str, ...]
    interval: timedelta
    timeout: timedelta
    jitter: timedelta
    failures_before_alert: int
    repeat: timedelta
    send_resolved: bool
    fingerprint: str

    @cached_property
    def policy(self) -> alerts.Policy:
        needed = {
            rid: entry.spec.consecutive
            for rid, entry in zip(self.rule_ids, self.rules, strict=True)
        }
        return alerts.Policy(self.repeat, self.send_resolved, needed)

    @cached_property
    def history_window(self) -> timedelta:
        """How much history the rules need: the longest ``within``/``window``, else none.

        Zero means "the previous snapshot only" (``change`` since the last poll, and the
        threshold's "was ... ago; ~N h left at the current rate" hint). The daemon keeps
        this much in memory per account, so it is what the rules need and no more: a day
        of 1-minute polls for 10,000 accounts would be gigabytes.
        """
        spans = [timedelta(0)]
        for entry in self.rules:
            for attr in ("within", "window"):
                value = getattr(entry.spec, attr, None)
                if isinstance(value, timedelta):
                    spans.append(value)
        return max(spans)


def recent_history(history: Sequence[Snapshot], window: timedelta, now: datetime) -> list[Snapshot]:
    """The snapshots the rules see: those within ``window`` of ``now``, and the latest one
    before ``now`` whatever its age (the previous poll)."""
    earlier = [s for s in history if s.taken_at < now]
    recent = [s for s in earlier if s.taken_at >= now - window]
    return recent if recent else earlier[-1:]


def make_plan(account: Account, defaults: Defaults) -> AccountPlan:
    """Resolve an account of the config against ``defaults``."""
    effective = account.effective(defaults)
    return AccountPlan(
        name=account.name,
        provider_name=account.provider,
        provider=account.build_provider(),
        tags=account.tags,
        rules=account.rules,
        rule_ids=account.rule_ids,
        interval=effective.interval,
        timeout=effective.timeout,
        jitter=effective.jitter,
        failures_before_alert=effective.failures_before_alert,
        repeat=effective.repeat,
        send_resolved=effective.send_resolved,
        fingerprint=fingerprint(account.provider, account.settings, account.currency),
    )


def redactable_secrets(config: Config) -> set[str]:
    """Every credential to keep out of logs: the config's, plus what providers know.

    Providers know credentials the config does not mark as secret (an http_json URL's
    ``?key=...`` written literally in the file), and httpx logs such URLs at INFO.
    """
    return set(config.secrets) | {s for a in config.accounts for s in a.build_provider().secrets()}


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


async def poll(plan: AccountPlan, client: Client, now: datetime) -> Snapshot | ProviderError:
    """Read one account's balances; a failure is returned, not raised."""
    try:
        return await fetch(
            plan.provider,
            client,
            account=plan.name,
            now=now,
            deadline=plan.timeout.total_seconds(),
        )
    except ProviderError as error:
        return error


def may_poll(plan: AccountPlan, health: Health | None, now: datetime) -> bool:
    """False while a backoff, Retry-After or auth quarantine is in force."""
    if health is None or health.not_before is None or now >= health.not_before:
        return True
    # Rejected credentials: a changed config is a new chance, at once.
    return health.last_error_kind == "auth" and health.config_hash != plan.fingerprint


def next_health(
    plan: AccountPlan, previous: Health | None, outcome: Snapshot | ProviderError, now: datetime
) -> Health:
    base = previous or Health(account=plan.name)
    if isinstance(outcome, Snapshot):
        return Health(account=plan.name, last_ok_at=now, last_poll_at=now)
    failures = base.consecutive_failures + 1
    if isinstance(outcome, AuthError):
        wait = max(AUTH_QUARANTINE, plan.interval)
    elif isinstance(outcome, RateLimited) and outcome.retry_after is not None:
        wait = min(timedelta(seconds=outcome.retry_after), MAX_RATE_LIMIT_WAIT)
        wait = max(wait, timedelta(seconds=1))
    else:
        wait = min(plan.interval * 2 ** min(failures - 1, 16), max(MAX_BACKOFF, plan.interval))
    return replace(
        base,
        consecutive_failures=failures,
        last_error=outcome.reason,
        last_error_kind=outcome.kind,
        last_poll_at=now,
        not_before=now + wait,
        config_hash=plan.fingerprint,
    )


def evaluate(
    plan: AccountPlan,
    outcome: Snapshot | ProviderError,
    health: Health,
    history: Sequence[Snapshot],
    states: Mapping[str, AlertState],
    now: datetime,
) -> RuleResult:
    """Health conditions always; balance rules only on a successful poll."""
    error = outcome if isinstance(outcome, ProviderError) else None
    result = health_rules.evaluate(error, health.consecutive_failures, plan.failures_before_alert)
    if isinstance(outcome, Snapshot):
        firing = {k: s.severity for k, s in states.items() if s.status == "firing"}
        refs = {k: s.event_ref for k, s in states.items() if s.event_ref is not None}
        ctx = RuleContext(outcome, history, now, firing, refs)
        result += evaluate_rules(plan.rules, plan.rule_ids, ctx)
    return result


def decide(
    plan: AccountPlan,
    outcome: Snapshot | ProviderError,
    *,
    previous_health: Health | None,
    history: Sequence[Snapshot],
    states: Mapping[str, AlertState],
    now: datetime,
    poll_id: str,
    silenced: Callable[[str], bool] = lambda rule: False,
    acked: Callable[[AlertState], bool] = lambda state: False,
) -> tuple[PollRecord, RuleResult]:
    """Everything one poll decides, ready for :meth:`Store.commit_poll`. Pure."""
    health = next_health(plan, previous_health, outcome, now)
    result = evaluate(plan, outcome, health, history, states, now)
    changed, transitions = alerts.advance(
        plan.name, states, result, now=now, policy=plan.policy, silenced=silenced, acked=acked
    )
    snapshot = outcome if isinstance(outcome, Snapshot) else None
    where = messages.Where(plan.name, plan.provider_name, plan.tags)
    notes = [
        messages.render(t, where, now=now, poll_id=poll_id, snapshot=snapshot) for t in transitions
    ]
    record = PollRecord(plan.name, now, snapshot, health, changed, notes)
    return record, result
