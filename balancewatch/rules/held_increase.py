"""``held_increase``: funds moved into escrow / frozen / hold. An event alert.

Money that is held is money you cannot spend; a jump in it is often the first sign of a
dispute, a stuck payout or a batch of tasks reserving credits.
"""

from __future__ import annotations

from balancewatch.model import Condition, Severity
from balancewatch.rules.base import RuleContext, RuleResult, key
from balancewatch.rules.delta import find_move
from balancewatch.rules.specs import HeldIncreaseRule
from balancewatch.units import format_amount, format_duration


def evaluate(rule: HeldIncreaseRule, rule_id: str, ctx: RuleContext) -> RuleResult:
    conditions: list[Condition] = []
    evaluated: set[str] = set()
    for currency in ctx.currencies(rule.currency):
        if ctx.value(currency, rule.kind) is None:
            continue
        k = key(rule_id, currency)
        evaluated.add(k)
        since = ctx.event_refs.get(k)
        move = find_move(ctx, currency, rule.kind, "rise", rule.by, rule.within, since)
        if move is None:
            continue
        ago = format_duration(ctx.now - move.reference_at)
        summary = (
            f"{rule.kind} funds grew by {format_amount(move.moved, currency)} "
            f"to {format_amount(move.value, currency)} "
            f"(from {format_amount(move.reference, currency)} {ago} ago)"
        )
        conditions.append(
            Condition(
                rule=rule_id,
                rule_type="held_increase",
                severity=Severity.parse(rule.severity),
                summary=summary,
                currency=currency,
                balance_kind=rule.kind,
                value=move.value,
                previous=move.reference,
                previous_at=move.reference_at,
                kind="event",
                event_id=move.reference_at.isoformat(),
            )
        )
    return RuleResult(conditions, frozenset(evaluated))
