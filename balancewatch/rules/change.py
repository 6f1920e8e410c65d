"""``change``: a balance dropped (or rose) by a percentage or an amount. An event alert."""

from __future__ import annotations

from typing import Literal

from balancewatch.model import Condition, Severity
from balancewatch.rules.base import RuleContext, RuleResult, key
from balancewatch.rules.delta import find_move
from balancewatch.rules.specs import ChangeRule
from balancewatch.units import format_amount, format_duration


def evaluate(rule: ChangeRule, rule_id: str, ctx: RuleContext) -> RuleResult:
    direction: Literal["drop", "rise"] = "drop" if rule.drop is not None else "rise"
    size = rule.drop or rule.rise
    assert size is not None
    conditions: list[Condition] = []
    evaluated: set[str] = set()
    for currency in ctx.currencies(rule.currency):
        if ctx.value(currency, rule.balance) is None:
            continue
        k = key(rule_id, currency)
        evaluated.add(k)
        since = ctx.event_refs.get(k)
        move = find_move(ctx, currency, rule.balance, direction, size, rule.within, since)
        if move is None:
            continue
        verb = "dropped" if direction == "drop" else "rose"
        pct = f" ({move.moved * 100 / move.reference:.1f}%)" if move.reference > 0 else ""
        ago = format_duration(ctx.now - move.reference_at)
        summary = (
            f"{rule.balance} {verb} by {format_amount(move.moved, currency)}{pct} "
            f"to {format_amount(move.value, currency)} "
            f"(from {format_amount(move.reference, currency)} {ago} ago)"
        )
        conditions.append(
            Condition(
                rule=rule_id,
                rule_type="change",
                severity=Severity.parse(rule.severity),
                summary=summary,
                currency=currency,
                balance_kind=rule.balance,
                value=move.value,
                previous=move.reference,
                previous_at=move.reference_at,
                kind="event",
                event_id=move.reference_at.isoformat(),
            )
        )
    return RuleResult(conditions, frozenset(evaluated))
