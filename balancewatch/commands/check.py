"""``balancewatch check``: poll every account now, evaluate the rules, notify nothing.

Exit codes follow the monitoring-plugin convention (Nagios, Icinga), first match wins:
3 config error (nothing polled), 2 any critical, 3 any failed poll, 1 any warning, 0 fine.

A failed poll is reported as such (``ok: false`` with the reason), never as a zero balance,
and no rule is evaluated for it: a rejected key is "unknown" (3) here, not "critical";
the daemon is what raises the critical ``auth`` alert.

When a state file exists, its history and alert states are used (read only), so ``change``
and ``held_increase`` compare against earlier polls, and a firing threshold keeps its
clear margin.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from balancewatch.model import BALANCE_KINDS, Condition, ProviderError, Severity, Snapshot
from balancewatch.poll.decide import ONE_SHOT_LOOKBACK, evaluate, next_health, poll, recent_history
from balancewatch.poll.plan import AccountPlan
from balancewatch.providers import make_client
from balancewatch.state import Store
from balancewatch.units import format_amount, plain_decimal

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3


@dataclass(frozen=True)
class AccountResult:
    plan: AccountPlan
    outcome: Snapshot | ProviderError
    conditions: list[Condition] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return isinstance(self.outcome, Snapshot)


async def check_accounts(
    plans: Sequence[AccountPlan], store: Store | None, now: datetime
) -> list[AccountResult]:
    """Poll all accounts concurrently over one client, then evaluate each."""
    async with make_client() as client:
        outcomes = await asyncio.gather(*(poll(plan, client, now) for plan in plans))
    return [
        _evaluate(plan, outcome, store, now) for plan, outcome in zip(plans, outcomes, strict=True)
    ]


def _evaluate(
    plan: AccountPlan, outcome: Snapshot | ProviderError, store: Store | None, now: datetime
) -> AccountResult:
    if isinstance(outcome, ProviderError):
        return AccountResult(plan, outcome)
    lookback = max(plan.history_window, ONE_SHOT_LOOKBACK)
    stored = store.history(plan.name, now - lookback) if store else []
    history = recent_history(stored, plan.history_window, now)
    states = store.alert_states(plan.name) if store else {}
    health = next_health(plan, None, outcome, now)
    result = evaluate(plan, outcome, health, [s for s in history if s.taken_at < now], states, now)
    return AccountResult(
        plan, outcome, [c for c in result.conditions if c.rule_type not in ("auth", "unreachable")]
    )


def exit_code(results: Sequence[AccountResult]) -> int:
    severities = [c.severity for r in results for c in r.conditions]
    if Severity.CRITICAL in severities:
        return CRITICAL
    if not all(r.ok for r in results):
        return UNKNOWN
    if Severity.WARNING in severities:
        return WARNING
    return OK


def _amount(value: Decimal | None) -> str | None:
    """Plain decimal text with the provider's scale: ``0.00000000``, never ``0E-8``."""
    return None if value is None else plain_decimal(value)


def to_json(results: Sequence[AccountResult]) -> str:
    """The ``check --json`` object; amounts as decimal strings, ``null`` for unknown kinds."""
    accounts: list[dict[str, Any]] = []
    for r in results:
        balances = {}
        if isinstance(r.outcome, Snapshot):
            balances = {
                cur: {kind: _amount(bal.kind(kind)) for kind in BALANCE_KINDS}
                for cur, bal in sorted(r.outcome.balances.items())
            }
        accounts.append(
            {
                "account": r.plan.name,
                "provider": r.plan.provider_name,
                "ok": r.ok,
                "error": None if r.ok else _error_text(r.outcome),
                "balances": balances,
                "alerts": [
                    {"rule": c.rule, "severity": c.severity.label, "summary": c.summary}
                    for c in r.conditions
                ],
            }
        )
    return json.dumps({"accounts": accounts}, indent=2)


def _error_text(outcome: Snapshot | ProviderError) -> str:
    return f"{outcome.kind}: {outcome.reason}" if isinstance(outcome, ProviderError) else ""


def to_text(results: Sequence[AccountResult]) -> str:
    """A readable report, one block per account."""
    lines: list[str] = []
    for r in results:
        head = f"{r.plan.name} ({r.plan.provider_name})"
        if not isinstance(r.outcome, Snapshot):
            lines.append(f"{head}: POLL FAILED - {_error_text(r.outcome)}")
            continue
        worst = max((c.severity for c in r.conditions), default=None)
        lines.append(f"{head}: {worst.name if worst else 'OK'}")
        for cur, bal in sorted(r.outcome.balances.items()):
            kinds = [
                f"{kind} {format_amount(v, cur) if (v := bal.kind(kind)) is not None else '-'}"
                for kind in BALANCE_KINDS
            ]
            lines.append(f"  {cur}: " + ", ".join(kinds))
        lines.extend(f"  [{c.severity.name}] {c.rule}: {c.summary}" for c in r.conditions)
    return "\n".join(lines)
