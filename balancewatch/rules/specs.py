"""The rule section of the config: one model per rule type, as the YAML spells it.

    rules:
      - threshold: {below: {warning: 5000, critical: 1000}, clear_margin: 250}
      - change: {drop: {percent: 20}, within: 1h}
      - held_increase: {kind: escrow, by: {percent: 25}, within: 1d}
      - runway: {under: {warning: 3d, critical: 1d}}

Decisions where DESIGN.md is silent, written down here:

- A bare number (``below: 500``) is a *warning* level; write ``{critical: 500}`` for a page.
- A rule's ``id`` defaults to its type; a second rule of the same type on one account is
  ``<type>-2`` and so on. Ids key the alert state, so give rules an explicit ``id`` if you
  expect to reorder them.
- ``change`` and ``held_increase`` are events: ``severity`` (default warning) says how loud.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from balancewatch.fields import Amount, Duration, Kind, Percent, PositiveDuration
from balancewatch.model import Severity

RULE_TYPES = ("threshold", "change", "held_increase", "runway")

SeverityName = Literal["warning", "critical"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Levels(_Strict):
    """A warning and/or a critical level."""

    warning: Amount | None = None
    critical: Amount | None = None

    @model_validator(mode="after")
    def _one_level(self) -> Levels:
        if self.warning is None and self.critical is None:
            raise ValueError("give 'warning', 'critical' or both")
        return self

    def by_severity(self) -> list[tuple[Severity, Decimal]]:
        """Critical first, so the worst matching level wins."""
        pairs = [(Severity.CRITICAL, self.critical), (Severity.WARNING, self.warning)]
        return [(sev, level) for sev, level in pairs if level is not None]


class DurationLevels(_Strict):
    warning: PositiveDuration | None = None
    critical: PositiveDuration | None = None

    @model_validator(mode="after")
    def _one_level(self) -> DurationLevels:
        if self.warning is None and self.critical is None:
            raise ValueError("give 'warning', 'critical' or both")
        if self.warning is not None and self.critical is not None and self.warning <= self.critical:
            raise ValueError("'warning' must be longer than 'critical'")
        return self


class Delta(_Strict):
    """A change size: an absolute amount or a percentage of the earlier value."""

    amount: Amount | None = Field(default=None, gt=0)
    percent: Percent | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> Delta:
        if (self.amount is None) == (self.percent is None):
            raise ValueError("give exactly one of 'amount' or 'percent'")
        return self


def _both(value: object) -> bool:
    return isinstance(value, Levels) and value.warning is not None and value.critical is not None


class _RuleBase(_Strict):
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]+$")
    currency: str | None = None
    consecutive: int = Field(default=1, ge=1, alias="for")


class ThresholdRule(_RuleBase):
    below: Amount | Levels | None = None
    above: Amount | Levels | None = None
    balance: Kind = "available"
    clear_margin: Amount = Decimal(0)

    @field_validator("below")
    @classmethod
    def _below_order(cls, value: Decimal | Levels | None) -> Decimal | Levels | None:
        if _both(value) and not value.warning > value.critical:  # type: ignore[union-attr,operator]
            raise ValueError("'warning' must be above 'critical'")
        return value

    @field_validator("above")
    @classmethod
    def _above_order(cls, value: Decimal | Levels | None) -> Decimal | Levels | None:
        if _both(value) and not value.warning < value.critical:  # type: ignore[union-attr,operator]
            raise ValueError("'warning' must be below 'critical'")
        return value

    @field_validator("clear_margin")
    @classmethod
    def _margin(cls, value: Decimal) -> Decimal:
        if value < 0:
            raise ValueError("cannot be negative")
        return value

    @model_validator(mode="after")
    def _one_direction(self) -> ThresholdRule:
        if (self.below is None) == (self.above is None):
            raise ValueError("give exactly one of 'below' or 'above'")
        return self

    @property
    def direction(self) -> Literal["below", "above"]:
        return "below" if self.below is not None else "above"

    def levels(self) -> list[tuple[Severity, Decimal]]:
        """(severity, level), critical first; a bare number is a warning level."""
        spec = self.below if self.below is not None else self.above
        if isinstance(spec, Levels):
            return spec.by_severity()
        assert spec is not None
        return [(Severity.WARNING, spec)]


class ChangeRule(_RuleBase):
    drop: Delta | None = None
    rise: Delta | None = None
    within: PositiveDuration | None = None
    balance: Kind = "available"
    severity: SeverityName = "warning"

    @model_validator(mode="after")
    def _direction(self) -> ChangeRule:
        if (self.drop is None) == (self.rise is None):
            raise ValueError("give exactly one of 'drop' or 'rise'")
        return self


class HeldIncreaseRule(_RuleBase):
    kind: Kind = "held"
    by: Delta
    within: PositiveDuration | None = None
    severity: SeverityName = "warning"


class RunwayRule(_RuleBase):
    under: PositiveDuration | DurationLevels
    balance: Kind = "available"
    window: PositiveDuration = timedelta(hours=6)
    """How far back to look for the spend rate."""

    def levels(self) -> list[tuple[Severity, timedelta]]:
        """(severity, runway), critical first; a bare duration is a warning level."""
        if isinstance(self.under, timedelta):
            return [(Severity.WARNING, self.under)]
        pairs = [(Severity.CRITICAL, self.under.critical), (Severity.WARNING, self.under.warning)]
        return [(sev, d) for sev, d in pairs if d is not None]


RuleSpec = ThresholdRule | ChangeRule | HeldIncreaseRule | RunwayRule


class RuleEntry(_Strict):
    """One item of an account's ``rules:`` list: a single key naming the rule type."""

    threshold: ThresholdRule | None = None
    change: ChangeRule | None = None
    held_increase: HeldIncreaseRule | None = None
    runway: RunwayRule | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> RuleEntry:
        present = [name for name in RULE_TYPES if getattr(self, name) is not None]
        if len(present) != 1:
            raise ValueError(f"each rule is exactly one of: {', '.join(RULE_TYPES)}")
        return self

    @property
    def type(self) -> str:
        return next(name for name in RULE_TYPES if getattr(self, name) is not None)

    @property
    def spec(self) -> RuleSpec:
        spec: RuleSpec = getattr(self, self.type)
        return spec


def rule_ids(entries: list[RuleEntry]) -> list[str]:
    """Stable ids: the explicit ``id``, else the type, numbered from the second of a type."""
    seen: dict[str, int] = {}
    ids: list[str] = []
    for entry in entries:
        if entry.spec.id:
            ids.append(entry.spec.id)
            continue
        seen[entry.type] = seen.get(entry.type, 0) + 1
        n = seen[entry.type]
        ids.append(entry.type if n == 1 else f"{entry.type}-{n}")
    return ids


__all__ = [
    "RULE_TYPES",
    "ChangeRule",
    "Delta",
    "Duration",
    "DurationLevels",
    "HeldIncreaseRule",
    "Levels",
    "RuleEntry",
    "RuleSpec",
    "RunwayRule",
    "ThresholdRule",
    "rule_ids",
]
