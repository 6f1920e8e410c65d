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

Values that cannot mean anything are refused where they are written, not left to never
fire (or never clear) in production:

- A threshold level is an amount of money left, so it is zero or more. A provider may
  report a debt (a negative balance), and ``below: 0`` catches any; but a negative level
  (``below: -500``) is far more often a stray sign than a watch on the depth of a debt,
  and ``above: -1`` would fire on every balance there is.
- ``clear_margin`` is zero or more; with ``above`` it is smaller than the lowest level, or
  the alert could clear only on a negative balance (``above: 100, clear_margin: 100``
  holds until the amount is below zero).
- ``drop: {percent: N}`` is at most 100: a drop of more than everything there was is a
  fall into debt, never a drop of a balance. A ``rise`` (and ``held_increase``) may be any
  size. Change sizes (``amount``, ``percent``) are above zero, or every poll is a change.
- Durations (``within``, ``window``, ``under``) are longer than zero, ``for`` is at least
  one poll, and a rule's ``currency`` is not empty (it would match no currency).
- Whether ``within``/``window`` is longer than the account's poll interval (or no earlier
  poll ever falls inside it) needs the interval: :mod:`balancewatch.config.validate`.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from balancewatch.fields import Amount, Duration, Kind, Percent, PositiveDuration
from balancewatch.model import Severity

RULE_TYPES = ("threshold", "change", "held_increase", "runway")

SeverityName = Literal["warning", "critical"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


NEGATIVE_LEVEL = "a level cannot be negative: it is an amount of money, zero or more"


def _not_negative(value: Decimal | None) -> Decimal | None:
    if value is not None and value < 0:
        raise ValueError(NEGATIVE_LEVEL)
    return value


Level = Annotated[Amount, AfterValidator(_not_negative)]


class Levels(_Strict):
    """A warning and/or a critical level (amounts, zero or more)."""

    warning: Level | None = None
    critical: Level | None = None

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


class Drop(Delta):
    """The size of a drop: a percentage is at most 100 (all of it)."""

    @field_validator("percent")
    @classmethod
    def _at_most_all(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and value > 100:
            raise ValueError(
                f"a drop cannot be more than 100% (all of the balance); {value}% would be "
                "a fall into debt"
            )
        return value


def _both(value: object) -> bool:
    return isinstance(value, Levels) and value.warning is not None and value.critical is not None


class _RuleBase(_Strict):
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]+$")
    currency: str | None = Field(default=None, min_length=1)
    consecutive: int = Field(default=1, ge=1, alias="for")


class ThresholdRule(_RuleBase):
    below: Level | Levels | None = None
    above: Level | Levels | None = None
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
    def _margin(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        if value < 0:
            raise ValueError("cannot be negative")
        above = info.data.get("above")
        lowest = min(level for _, level in _levels(above)) if above is not None else None
        if value and lowest is not None and value >= lowest:
            raise ValueError(
                f"with 'above', must be smaller than the lowest level ({lowest}): "
                f"the alert would clear only below {lowest - value}, on a debt"
            )
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
        assert spec is not None
        return _levels(spec)


def _levels(spec: Decimal | Levels) -> list[tuple[Severity, Decimal]]:
    if isinstance(spec, Levels):
        return spec.by_severity()
    return [(Severity.WARNING, spec)]


class ChangeRule(_RuleBase):
    drop: Drop | None = None
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
    "Drop",
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
