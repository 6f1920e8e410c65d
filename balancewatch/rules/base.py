"""What every rule receives and returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from balancewatch.model import Condition, Severity, Snapshot
from balancewatch.rules.history import History


@dataclass(frozen=True, slots=True)
class RuleContext:
    """The inputs of one evaluation: the new snapshot, what came before, and what fires now.

    ``history`` answers questions about earlier polls of the account, not including
    ``snapshot`` (:mod:`balancewatch.rules.history`). ``firing`` maps condition keys to the
    severity currently firing (the threshold rule needs it for ``clear_margin``).
    ``event_refs`` maps event condition keys to the instant their last event was reported
    (:attr:`AlertState.event_ref`): an event rule measures the next move from no earlier
    than that, so a further drop after a reported one is a new event even while the old
    reference is still in the window.
    """

    snapshot: Snapshot
    history: History
    now: datetime
    firing: Mapping[str, Severity] = field(default_factory=dict)
    event_refs: Mapping[str, datetime] = field(default_factory=dict)

    def currencies(self, only: str | None) -> list[str]:
        """The currencies a rule looks at: the one it names, or every reported one."""
        if only is not None:
            return [only] if only in self.snapshot.balances else []
        return sorted(self.snapshot.balances)

    def value(self, currency: str, kind: str) -> Decimal | None:
        balance = self.snapshot.balances.get(currency)
        return balance.kind(kind) if balance is not None else None


@dataclass(frozen=True, slots=True)
class RuleResult:
    conditions: list[Condition] = field(default_factory=list)
    evaluated: frozenset[str] = frozenset()

    def __add__(self, other: RuleResult) -> RuleResult:
        return RuleResult(self.conditions + other.conditions, self.evaluated | other.evaluated)


def key(rule: str, currency: str | None) -> str:
    """The condition key, as :attr:`Condition.key` builds it."""
    return f"{rule}:{currency or '*'}"
