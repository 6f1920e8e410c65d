"""Rules: pure functions from (rule, history, snapshot, now) to conditions.

No I/O, no clock reads, no logging: ``now`` and the history are passed in, so every rule
is tested with plain values. Each rule returns a :class:`RuleResult`: the conditions that
hold, and the keys it *evaluated*. A key that was not evaluated (a failed poll, a currency
that disappeared, a kind the provider does not report) keeps its alert as it was: unknown
is not zero, so it neither fires nor resolves.
"""

from balancewatch.rules.base import RuleContext, RuleResult
from balancewatch.rules.engine import evaluate_rules, evaluate_specs

__all__ = ["RuleContext", "RuleResult", "evaluate_rules", "evaluate_specs"]
