"""``held_increase``: funds moved into escrow / frozen / hold. An event alert.

Money that is held is money you cannot spend; a jump in it is often the first sign of a
dispute, a stuck payout or a batch of tasks reserving credits.
"""

from __future__ import annotations

from balancewatch.rules.base import RuleContext, RuleResult
from balancewatch.rules.delta import MoveRule, evaluate_moves
from balancewatch.rules.specs import HeldIncreaseRule


def evaluate(rule: HeldIncreaseRule, rule_id: str, ctx: RuleContext) -> RuleResult:
    spec = MoveRule(
        rule_type="held_increase",
        currency=rule.currency,
        kind=rule.kind,
        direction="rise",
        size=rule.by,
        within=rule.within,
        severity=rule.severity,
    )
    return evaluate_moves(spec, rule_id, ctx)
