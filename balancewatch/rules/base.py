"""What every rule receives and returns."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from balancewatch.model import Condition, Severity, Snapshot


@dataclass(frozen=True, slots=True)
class RuleContext:
    """The inputs of one evaluation: the new snapshot, what came before, and what fires now.

    ``history`` holds earlier snapshots of the account, oldest first, not including
    ``snapshot``. ``firing`` maps condition keys to the severity currently firing (the
    threshold rule needs it for ``clear_margin``). ``event_refs`` maps event condition keys
    to the instant their last event was reported (:attr:`AlertState.event_ref`): an event
    rule measures the next move from no earlier than that, so a further drop after a
    reported one is a new event even while the old reference is still in the window.
    """

    snapshot: Snapshot
    history: Sequence[Snapshot]
    now: datetime
    firing: Mapping[str, Severity] = field(default_factory=dict)
    event_refs: Mapping[str, datetime] = field(default_factory=dict)

    @property
    def previous(self) -> Snapshot | None:
        return self.history[-1] if self.history else None

    def currencies(self, only: str | None) -> list[str]:
        """The currencies a rule looks at: the one it names, or every reported one."""
        if only is not None:
            return [only] if only in self.snapshot.balances else []
        return sorted(self.snapshot.balances)

    def value(self, currency: str, kind: str) -> Decimal | None:
        balance = self.snapshot.balances.get(currency)
        return balance.kind(kind) if balance is not None else None

    def series(
        self, currency: str, kind: str, within: timedelta | None
    ) -> Iterator[tuple[datetime, Decimal]]:
        """Earlier (time, value) points of one kind, restricted to ``within`` of now."""
        start = self.now - within if within is not None else None
        for snap in self.history:
            if start is not None and snap.taken_at < start:
                continue
            balance = snap.balances.get(currency)
            value = balance.kind(kind) if balance is not None else None
            if value is not None:
                yield snap.taken_at, value


@dataclass(frozen=True, slots=True)
class RuleResult:
    conditions: list[Condition] = field(default_factory=list)
    evaluated: frozenset[str] = frozenset()

    def __add__(self, other: RuleResult) -> RuleResult:
        return RuleResult(self.conditions + other.conditions, self.evaluated | other.evaluated)


def key(rule: str, currency: str | None) -> str:
    """The condition key, as :attr:`Condition.key` builds it."""
    return f"{rule}:{currency or '*'}"
