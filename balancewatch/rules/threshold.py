"""``threshold``: a balance kind below (or above) a level, with a clear margin.

A firing alert clears only once the value is back past the level *plus* ``clear_margin``
(minus, for ``above``), so a balance hovering at the line does not flap. Equal to the
level does not fire: ``below: 1000`` means strictly less than 1000.
"""

from __future__ import annotations

from decimal import Decimal

from balancewatch.model import Condition, Severity
from balancewatch.rules.base import RuleContext, RuleResult, key
from balancewatch.rules.runway import estimate_runway
from balancewatch.rules.specs import ThresholdRule
from balancewatch.units import format_amount


def evaluate(rule: ThresholdRule, rule_id: str, ctx: RuleContext) -> RuleResult:
    conditions: list[Condition] = []
    evaluated: set[str] = set()
    for currency in ctx.currencies(rule.currency):
        value = ctx.value(currency, rule.balance)
        if value is None:
            continue
        k = key(rule_id, currency)
        evaluated.add(k)
        hit = _worst_level(rule, value, ctx.firing.get(k))
        if hit is None:
            continue
        severity, level = hit
        conditions.append(_condition(rule, rule_id, ctx, currency, value, severity, level))
    return RuleResult(conditions, frozenset(evaluated))


def _worst_level(
    rule: ThresholdRule, value: Decimal, firing: Severity | None
) -> tuple[Severity, Decimal] | None:
    """The most severe level crossed; levels already firing hold until past the margin."""
    below = rule.direction == "below"
    for severity, level in rule.levels():
        holding = firing is not None and firing >= severity
        margin = rule.clear_margin if holding else Decimal(0)
        line = level + margin if below else level - margin
        crossed = value < line if below else value > line
        if crossed or (holding and margin and value == line):
            return severity, level
    return None


def _condition(
    rule: ThresholdRule,
    rule_id: str,
    ctx: RuleContext,
    currency: str,
    value: Decimal,
    severity: Severity,
    level: Decimal,
) -> Condition:
    previous = ctx.history.latest(currency, rule.balance)
    word = rule.direction
    shown = f"{rule.balance} {format_amount(value, currency)}"
    crossed = value < level if word == "below" else value > level
    if crossed:
        summary = f"{shown} is {word} {format_amount(level, currency)}"
    else:
        back = "above" if word == "below" else "below"
        line = level + rule.clear_margin if word == "below" else level - rule.clear_margin
        summary = (
            f"{shown} is back {back} {format_amount(level, currency)} but has not yet "
            f"cleared {format_amount(line, currency)} (the clear margin)"
        )
    runway = estimate_runway(ctx, currency, rule.balance, Decimal(0)) if word == "below" else None
    return Condition(
        rule=rule_id,
        rule_type="threshold",
        severity=severity,
        summary=summary,
        currency=currency,
        balance_kind=rule.balance,
        value=value,
        threshold=level,
        previous=previous[1] if previous is not None else None,
        previous_at=previous[0] if previous is not None else None,
        runway_seconds=runway,
    )
