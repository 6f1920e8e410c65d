"""Shared by ``change`` and ``held_increase``: find a move of a given size against a reference.

The reference is the previous poll's value, or with ``within`` the extreme value in the
window (the highest for a drop, the lowest for a rise), so a drop spread over several polls
is caught. Each event is identified by its reference instant: a later poll measuring the
same move from the same reference is the same event, never reported twice.

With ``since`` (the instant the last event of this key was reported), points before it
are not references any more: the move they measured was reported, and a further move is
measured from the snapshot where that event was detected, or later.

A percentage against a reference of zero (or less): a rise from 0 (or from a debt) is an
infinite percentage and counts; a drop from 0 (into a debt) cannot be a percentage and
does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from balancewatch.model import Condition, Severity
from balancewatch.rules.base import RuleContext, RuleResult, key
from balancewatch.rules.specs import Delta
from balancewatch.units import format_amount, format_duration


@dataclass(frozen=True, slots=True)
class Move:
    reference: Decimal
    reference_at: datetime
    value: Decimal
    moved: Decimal
    """Always positive: the size of the drop or of the rise."""


def find_move(
    ctx: RuleContext,
    currency: str,
    kind: str,
    direction: Literal["drop", "rise"],
    size: Delta,
    within: timedelta | None,
    since: datetime | None = None,
) -> Move | None:
    value = ctx.value(currency, kind)
    if value is None:
        return None
    if within is None:
        point = ctx.history.last(currency, kind, since)
    else:
        start = ctx.now - within
        if since is not None and since > start:
            start = since
        point = ctx.history.extreme(currency, kind, start, highest=direction == "drop")
    if point is None:
        return None
    ref_at, reference = point
    moved = reference - value if direction == "drop" else value - reference
    if moved <= 0 or not _big_enough(moved, reference, size, direction):
        return None
    return Move(reference, ref_at, value, moved)


def _big_enough(
    moved: Decimal, reference: Decimal, size: Delta, direction: Literal["drop", "rise"]
) -> bool:
    if size.amount is not None:
        return moved >= size.amount
    assert size.percent is not None
    if reference <= 0:
        # A rise from nothing is an infinite percentage; a drop from nothing (into a
        # debt) is no percentage at all.
        return direction == "rise"
    return moved * 100 >= size.percent * reference


@dataclass(frozen=True, slots=True)
class MoveRule:
    """What ``change`` and ``held_increase`` have in common, as plain values."""

    rule_type: Literal["change", "held_increase"]
    currency: str | None
    kind: str
    direction: Literal["drop", "rise"]
    size: Delta
    within: timedelta | None
    severity: str


def evaluate_moves(spec: MoveRule, rule_id: str, ctx: RuleContext) -> RuleResult:
    """One event condition per currency whose ``kind`` moved by at least ``size``."""
    conditions: list[Condition] = []
    evaluated: set[str] = set()
    for currency in ctx.currencies(spec.currency):
        if ctx.value(currency, spec.kind) is None:
            continue
        k = key(rule_id, currency)
        evaluated.add(k)
        since = ctx.event_refs.get(k)
        move = find_move(ctx, currency, spec.kind, spec.direction, spec.size, spec.within, since)
        if move is not None:
            conditions.append(_condition(spec, rule_id, ctx, currency, move))
    return RuleResult(conditions, frozenset(evaluated))


def _condition(
    spec: MoveRule, rule_id: str, ctx: RuleContext, currency: str, move: Move
) -> Condition:
    ago = format_duration(ctx.now - move.reference_at)
    pct = f" ({move.moved * 100 / move.reference:.1f}%)" if move.reference > 0 else ""
    if spec.rule_type == "held_increase":
        what = f"{spec.kind} funds grew by {format_amount(move.moved, currency)}"
    else:
        verb = "dropped" if spec.direction == "drop" else "rose"
        what = f"{spec.kind} {verb} by {format_amount(move.moved, currency)}{pct}"
    summary = (
        f"{what} to {format_amount(move.value, currency)} "
        f"(from {format_amount(move.reference, currency)} {ago} ago)"
    )
    return Condition(
        rule=rule_id,
        rule_type=spec.rule_type,
        severity=Severity.parse(spec.severity),
        summary=summary,
        currency=currency,
        balance_kind=spec.kind,
        value=move.value,
        previous=move.reference,
        previous_at=move.reference_at,
        kind="event",
        event_id=move.reference_at.isoformat(),
    )
