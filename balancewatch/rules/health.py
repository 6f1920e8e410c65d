"""Health conditions: ``auth`` (critical at once) and ``unreachable`` (after N failures).

A rejected key will not fix itself, and some providers lock out the whole IP after a few
rejected keys, so ``auth`` fires on the first rejection. Anything else fires
``unreachable`` only after ``failures_before_alert`` failed polls in a row: one timeout is
weather, three are an outage.
"""

from __future__ import annotations

from balancewatch.model import AuthError, Condition, ProviderError, Severity
from balancewatch.rules.base import RuleResult, key

AUTH = "auth"
UNREACHABLE = "unreachable"


def evaluate(
    error: ProviderError | None, consecutive_failures: int, failures_before_alert: int
) -> RuleResult:
    """Health verdict of one poll. A success clears both; an auth error clears unreachable."""
    both = frozenset({key(AUTH, None), key(UNREACHABLE, None)})
    if error is None:
        return RuleResult([], both)
    if isinstance(error, AuthError):
        summary = f"credentials rejected ({error.reason}); polling slowed until the config changes"
        return RuleResult([_condition(AUTH, Severity.CRITICAL, summary)], both)
    if consecutive_failures < failures_before_alert:
        return RuleResult([], frozenset())  # not yet: neither fire nor resolve
    summary = (
        f"unreachable for {consecutive_failures} polls in a row ({error.kind}: {error.reason})"
    )
    return RuleResult(
        [_condition(UNREACHABLE, Severity.CRITICAL, summary)], frozenset({key(UNREACHABLE, None)})
    )


def _condition(rule: str, severity: Severity, summary: str) -> Condition:
    return Condition(rule=rule, rule_type=rule, severity=severity, summary=summary)
