"""Runs an account's rules over one snapshot: dispatch by type, plus the runway floors."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from balancewatch.model import Severity
from balancewatch.rules import change, held_increase, runway, threshold
from balancewatch.rules.base import RuleContext, RuleResult
from balancewatch.rules.specs import (
    ChangeRule,
    HeldIncreaseRule,
    RuleEntry,
    RunwayRule,
    ThresholdRule,
)


def evaluate_rules(
    entries: Sequence[RuleEntry], ids: Sequence[str], ctx: RuleContext
) -> RuleResult:
    """Every rule of an account over one snapshot. Pure."""
    result = RuleResult()
    for entry, rule_id in zip(entries, ids, strict=True):
        spec = entry.spec
        if isinstance(spec, ThresholdRule):
            result += threshold.evaluate(spec, rule_id, ctx)
        elif isinstance(spec, ChangeRule):
            result += change.evaluate(spec, rule_id, ctx)
        elif isinstance(spec, HeldIncreaseRule):
            result += held_increase.evaluate(spec, rule_id, ctx)
        elif isinstance(spec, RunwayRule):
            result += runway.evaluate(spec, rule_id, ctx, runway_floors(entries, spec, ctx))
    return result


def runway_floors(
    entries: Sequence[RuleEntry], rule: RunwayRule, ctx: RuleContext
) -> dict[str, Decimal]:
    """Per currency, the critical ``below`` level of a threshold on the same kind, if any."""
    floors: dict[str, Decimal] = {}
    for entry in entries:
        spec = entry.spec
        if not isinstance(spec, ThresholdRule) or spec.direction != "below":
            continue
        if spec.balance != rule.balance:
            continue
        level = dict(spec.levels()).get(Severity.CRITICAL)
        if level is None:
            continue  # a warning level is not running out: measure to zero
        for currency in ctx.currencies(spec.currency):
            floors[currency] = max(floors[currency], level) if currency in floors else level
    return floors
