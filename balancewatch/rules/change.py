"""``change``: a balance dropped (or rose) by a percentage or an amount. An event alert."""

from __future__ import annotations

from balancewatch.rules.base import RuleContext, RuleResult
from balancewatch.rules.delta import MoveRule, evaluate_moves
from balancewatch.rules.specs import ChangeRule


def evaluate(rule: ChangeRule, rule_id: str, ctx: RuleContext) -> RuleResult:
    size = rule.drop or rule.rise
    assert size is not None
    spec = MoveRule(
        rule_type="change",
        currency=rule.currency,
        kind=rule.balance,
        direction="drop" if rule.drop is not None else "rise",
        size=size,
        within=rule.within,
        severity=rule.severity,
    )
    return evaluate_moves(spec, rule_id, ctx)
