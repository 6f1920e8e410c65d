"""Runs an account's rules over one snapshot: dispatch by type, plus the runway floors."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from balancewatch.model import Condition, Severity
from balancewatch.rules import change, held_increase, runway, threshold
from balancewatch.rules.base import RuleContext, RuleResult
from balancewatch.rules.specs import (
    ChangeRule,
    HeldIncreaseRule,
    RuleEntry,
    RuleSpec,
    RunwayRule,
    ThresholdRule,
)


def evaluate_rules(
    entries: Sequence[RuleEntry], ids: Sequence[str], ctx: RuleContext
) -> RuleResult:
    """Every rule of an account over one snapshot. Pure."""
    return evaluate_specs([entry.spec for entry in entries], ids, ctx)


def evaluate_specs(specs: Sequence[RuleSpec], ids: Sequence[str], ctx: RuleContext) -> RuleResult:
    """:func:`evaluate_rules` for the specs themselves (a plan keeps them unwrapped)."""
    conditions: list[Condition] = []
    evaluated: set[str] = set()
    for spec, rule_id in zip(specs, ids, strict=True):
        if isinstance(spec, ThresholdRule):
            result = threshold.evaluate(spec, rule_id, ctx)
        elif isinstance(spec, ChangeRule):
            result = change.evaluate(spec, rule_id, ctx)
        elif isinstance(spec, HeldIncreaseRule):
            result = held_increase.evaluate(spec, rule_id, ctx)
        else:
            result = runway.evaluate(spec, rule_id, ctx, runway_floors(specs, spec, ctx))
        conditions += result.conditions
        evaluated |= result.evaluated
    return RuleResult(conditions, frozenset(evaluated))


def runway_floors(
    rules: Sequence[RuleEntry | RuleSpec], rule: RunwayRule, ctx: RuleContext
) -> dict[str, Decimal]:
    """Per currency, the critical ``below`` level of a threshold on the same kind, if any."""
    floors: dict[str, Decimal] = {}
    for item in rules:
        spec = item.spec if isinstance(item, RuleEntry) else item
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
