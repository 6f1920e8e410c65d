"""``runway``: how long until the balance runs out at the recent spend rate.

The spend rate counts decreases only, over ``window``: a top-up in the window is income,
not negative spending, so it neither hides the burn nor makes the runway look infinite.
The runway is measured to the critical level of a ``below`` threshold on the same kind
when the account has one (running into the critical alert is running out), else to zero.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from balancewatch.model import Condition, Severity
from balancewatch.rules.base import RuleContext, RuleResult, key
from balancewatch.rules.history import EXACT, decrease
from balancewatch.rules.specs import RunwayRule
from balancewatch.units import format_amount, format_duration

MIN_SPAN = timedelta(minutes=1)
"""Less history than this (or than half the window, for windows under two minutes) is not
a rate, it is noise."""


def spend_rate(ctx: RuleContext, currency: str, kind: str, window: timedelta) -> Decimal | None:
    """Amount spent per second over ``window`` (decreases only), or None without history."""
    spending = ctx.history.spending(currency, kind, ctx.now - window)
    current = ctx.value(currency, kind)
    if spending is None or current is None:
        return None
    span = ctx.now - spending.first_at
    if span < min(MIN_SPAN, window / 2):
        return None
    spent = EXACT.add(spending.spent, decrease(spending.last, current))
    return spent / Decimal(int(span.total_seconds()))


def estimate_runway(
    ctx: RuleContext,
    currency: str,
    kind: str,
    floor: Decimal,
    window: timedelta = timedelta(hours=6),
) -> float | None:
    """Seconds until ``kind`` reaches ``floor`` at the recent rate (None: not spending)."""
    rate = spend_rate(ctx, currency, kind, window)
    value = ctx.value(currency, kind)
    if rate is None or value is None or rate <= 0:
        return None
    remaining = max(Decimal(0), value - floor)
    return float(remaining / rate)  # seconds, not money: float is right here


def evaluate(
    rule: RunwayRule, rule_id: str, ctx: RuleContext, floors: dict[str, Decimal] | None = None
) -> RuleResult:
    conditions: list[Condition] = []
    evaluated: set[str] = set()
    for currency in ctx.currencies(rule.currency):
        value = ctx.value(currency, rule.balance)
        if value is None or spend_rate(ctx, currency, rule.balance, rule.window) is None:
            continue
        k = key(rule_id, currency)
        evaluated.add(k)
        floor = (floors or {}).get(currency, Decimal(0))
        seconds = estimate_runway(ctx, currency, rule.balance, floor, rule.window)
        if seconds is None:
            continue
        hit = next(
            ((sev, lim) for sev, lim in rule.levels() if seconds < lim.total_seconds()), None
        )
        if hit is None:
            continue
        severity, limit = hit
        target = f"reaching {format_amount(floor, currency)}" if floor else "running out"
        summary = (
            f"{rule.balance} {format_amount(value, currency)} is ~{format_duration(seconds)} "
            f"from {target} at the current rate (alert under {format_duration(limit)})"
        )
        conditions.append(
            Condition(
                rule=rule_id,
                rule_type="runway",
                severity=severity,
                summary=summary,
                currency=currency,
                balance_kind=rule.balance,
                value=value,
                threshold=floor,
                runway_seconds=seconds,
            )
        )
    return RuleResult(conditions, frozenset(evaluated))


__all__ = ["Severity", "estimate_runway", "evaluate", "spend_rate"]
