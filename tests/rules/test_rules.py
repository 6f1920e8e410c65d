"""Rules as specifications: (rule, history, snapshot, now) -> conditions, with plain values.

Every rule answers two things: the conditions that hold, and the keys it *evaluated*. A key
that was not evaluated (a currency gone from the snapshot, a kind the provider does not
report, too little history) keeps its alert as it was: unknown is not zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from balancewatch.model import (
    AuthError,
    Balance,
    Condition,
    MalformedResponse,
    ProviderError,
    RateLimited,
    Severity,
    Snapshot,
    TransientError,
)
from balancewatch.rules import (
    RuleContext,
    RuleResult,
    change,
    evaluate_rules,
    health,
    held_increase,
    runway,
    threshold,
)
from balancewatch.rules.engine import runway_floors
from balancewatch.rules.history import SnapshotHistory
from balancewatch.rules.specs import (
    ChangeRule,
    HeldIncreaseRule,
    RuleEntry,
    RunwayRule,
    ThresholdRule,
    rule_ids,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "oneclick-main"

Number = int | str | Decimal


def at(minutes: float) -> datetime:
    """An instant ``minutes`` after T0 (negative: before)."""
    return T0 + timedelta(minutes=minutes)


def dec(value: Number | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def snap(minutes: float, **balances: Balance) -> Snapshot:
    return Snapshot(ACCOUNT, at(minutes), balances)


def available(value: Number, currency: str = "DZD", minutes: float = 0) -> Snapshot:
    return snap(minutes, **{currency: Balance(available=Decimal(value))})


def held_snap(value: Number, minutes: float = 0, currency: str = "TND") -> Snapshot:
    return snap(minutes, **{currency: Balance(available=Decimal(1000), held=Decimal(value))})


def context(
    snapshot: Snapshot,
    history: Sequence[Snapshot] = (),
    firing: Mapping[str, Severity] | None = None,
    event_refs: Mapping[str, datetime] | None = None,
) -> RuleContext:
    return RuleContext(
        snapshot, SnapshotHistory(list(history)), snapshot.taken_at, firing or {}, event_refs or {}
    )


def series(points: Sequence[tuple[float, Number]], currency: str = "DZD") -> list[Snapshot]:
    """Available balances at (minute, value) points, oldest first."""
    return [available(value, currency, minutes) for minutes, value in points]


def only(result: RuleResult) -> Condition:
    assert len(result.conditions) == 1, result.conditions
    return result.conditions[0]


def severity_of(result: RuleResult) -> Severity | None:
    return only(result).severity if result.conditions else None


# ================================================================ threshold

LEVELS: dict[str, Any] = {"below": {"warning": 5000, "critical": 1000}, "clear_margin": 250}
HELD_ABOVE: dict[str, Any] = {"above": {"warning": 100, "critical": 500}, "clear_margin": 10}
W, C = Severity.WARNING, Severity.CRITICAL


@pytest.mark.parametrize(
    ("spec", "value", "firing", "expected"),
    [
        # crossing, from quiet
        pytest.param(LEVELS, "950", None, C, id="below-critical-fires-critical"),
        pytest.param(LEVELS, "3000", None, W, id="between-levels-fires-warning"),
        pytest.param(LEVELS, "6000", None, None, id="above-both-levels-is-quiet"),
        pytest.param(LEVELS, "1000", None, W, id="equal-to-critical-is-not-critical"),
        pytest.param(LEVELS, "5000", None, None, id="equal-to-warning-does-not-fire"),
        pytest.param(LEVELS, "4999.99", None, W, id="a-cent-below-warning-fires"),
        pytest.param({"below": 500}, "499", None, W, id="bare-number-is-a-warning-level"),
        pytest.param({"below": 500}, "500", None, None, id="bare-number-equal-does-not-fire"),
        pytest.param({"below": {"critical": 200}}, "150", None, C, id="critical-only"),
        pytest.param({"below": {"critical": 200}}, "300", None, None, id="critical-only-quiet"),
        pytest.param({"below": 0}, "-1", None, W, id="overdraft-below-zero"),
        # the clear margin, while firing at that severity
        pytest.param(LEVELS, "5100", W, W, id="warning-holds-inside-margin"),
        pytest.param(LEVELS, "5250", W, W, id="warning-holds-at-margin-line"),
        pytest.param(LEVELS, "5251", W, None, id="warning-clears-past-margin"),
        pytest.param(LEVELS, "5100", None, None, id="quiet-value-inside-margin-does-not-fire"),
        pytest.param(LEVELS, "1100", W, W, id="margin-does-not-promote-to-critical"),
        pytest.param(LEVELS, "900", W, C, id="escalates-to-critical-at-once"),
        # de-escalation from critical
        pytest.param(LEVELS, "1200", C, C, id="critical-holds-inside-its-margin"),
        pytest.param(LEVELS, "1250", C, C, id="critical-holds-at-its-margin-line"),
        pytest.param(LEVELS, "1251", C, W, id="critical-deescalates-past-its-margin"),
        pytest.param(LEVELS, "5200", C, W, id="critical-to-warning-margin"),
        pytest.param(LEVELS, "5300", C, None, id="critical-clears-past-warning-margin"),
        # zero margin: the line itself clears
        pytest.param({"below": 500}, "500", W, None, id="no-margin-clears-at-the-line"),
        # above (held funds)
        pytest.param({**HELD_ABOVE, "balance": "held"}, "600", None, C, id="above-critical"),
        pytest.param({**HELD_ABOVE, "balance": "held"}, "200", None, W, id="above-warning"),
        pytest.param({**HELD_ABOVE, "balance": "held"}, "100", None, None, id="above-equal-quiet"),
        pytest.param({**HELD_ABOVE, "balance": "held"}, "95", W, W, id="above-holds-in-margin"),
        pytest.param({**HELD_ABOVE, "balance": "held"}, "90", W, W, id="above-holds-at-line"),
        pytest.param({**HELD_ABOVE, "balance": "held"}, "89", W, None, id="above-clears-past"),
        pytest.param({**HELD_ABOVE, "balance": "held"}, "495", C, C, id="above-crit-holds"),
        pytest.param({**HELD_ABOVE, "balance": "held"}, "489", C, W, id="above-crit-eases"),
        # decimal precision: 0.1 + 0.2 is exactly 0.3
        pytest.param({"below": "0.3"}, Decimal("0.1") + Decimal("0.2"), None, None, id="0.1+0.2"),
        pytest.param({"below": "0.3"}, "0.30", None, None, id="trailing-zero-is-equal"),
        pytest.param({"below": "0.3"}, "0.2999", None, W, id="just-below-0.3-fires"),
    ],
)
def test_threshold_table(
    spec: dict[str, Any], value: Number, firing: Severity | None, expected: Severity | None
) -> None:
    """Strictly past a level fires; a firing level holds until back past level + clear_margin."""
    rule = ThresholdRule.model_validate(spec)
    kind = rule.balance
    snapshot = snap(0, DZD=Balance(**{kind: Decimal(value)}))
    firing_map = {"threshold:DZD": firing} if firing is not None else {}
    result = threshold.evaluate(rule, "threshold", context(snapshot, firing=firing_map))
    assert result.evaluated == {"threshold:DZD"}
    assert severity_of(result) == expected


def test_decimal_arithmetic_is_exact() -> None:
    """The premise of the precision rows above: no float, so no 0.30000000000000004."""
    assert Decimal("0.1") + Decimal("0.2") == Decimal("0.3")
    rule = ThresholdRule.model_validate({"below": "0.3"})
    assert rule.levels() == [(Severity.WARNING, Decimal("0.3"))]


def test_threshold_condition_says_what_where_and_compared_with_what() -> None:
    """The condition carries the value, the level crossed and the previous poll's value."""
    rule = ThresholdRule.model_validate(LEVELS)
    previous = available(1420, minutes=-2)
    result = threshold.evaluate(rule, "threshold", context(available(950), [previous]))
    condition = only(result)
    assert condition.key == "threshold:DZD"
    assert condition.kind == "state"
    assert condition.rule_type == "threshold"
    assert condition.summary == "available 950.00 DZD is below 1,000.00 DZD"
    assert condition.value == Decimal(950)
    assert condition.threshold == Decimal(1000)
    assert condition.previous == Decimal(1420)
    assert condition.previous_at == at(-2)
    assert condition.balance_kind == "available"


def test_threshold_inside_margin_says_it_has_not_cleared_yet() -> None:
    """A value back over the line but inside the margin is explained, not called 'below'."""
    rule = ThresholdRule.model_validate(LEVELS)
    ctx = context(available(5100), firing={"threshold:DZD": Severity.WARNING})
    condition = only(threshold.evaluate(rule, "threshold", ctx))
    assert condition.summary == (
        "available 5,100.00 DZD is back above 5,000.00 DZD but has not yet cleared "
        "5,250.00 DZD (the clear margin)"
    )


def test_threshold_evaluates_every_reported_currency_by_default() -> None:
    rule = ThresholdRule.model_validate({"below": 100})
    snapshot = snap(
        0, USDT_TRON=Balance(available=Decimal(50)), BTC_BITCOIN=Balance(available=Decimal(500))
    )
    result = threshold.evaluate(rule, "threshold", context(snapshot))
    assert result.evaluated == {"threshold:USDT_TRON", "threshold:BTC_BITCOIN"}
    assert only(result).currency == "USDT_TRON"


def test_threshold_currency_filter_looks_at_that_currency_only() -> None:
    """``currency: USDT_TRON`` ignores every other currency of the account."""
    rule = ThresholdRule.model_validate({"currency": "USDT_TRON", "below": {"critical": 100}})
    snapshot = snap(
        0, USDT_TRON=Balance(available=Decimal(50)), BTC_BITCOIN=Balance(available=Decimal(0))
    )
    result = threshold.evaluate(rule, "threshold", context(snapshot))
    assert result.evaluated == {"threshold:USDT_TRON"}
    assert only(result).currency == "USDT_TRON"
    assert only(result).severity is Severity.CRITICAL


def test_threshold_currency_gone_from_the_snapshot_is_not_evaluated() -> None:
    """A named currency missing from this poll is unknown: no condition and no evaluated key,
    so its alert neither fires nor resolves."""
    rule = ThresholdRule.model_validate({"currency": "USDT_TRON", "below": {"critical": 100}})
    snapshot = snap(0, BTC_BITCOIN=Balance(available=Decimal(1)))
    result = threshold.evaluate(rule, "threshold", context(snapshot))
    assert result.conditions == []
    assert "threshold:USDT_TRON" not in result.evaluated
    assert result.evaluated == frozenset()


def test_threshold_on_a_kind_the_provider_does_not_report_is_not_evaluated() -> None:
    """``None`` means "not reported", never zero: a threshold on it is not evaluated."""
    rule = ThresholdRule.model_validate({"below": 100, "balance": "pending"})
    snapshot = snap(0, DZD=Balance(available=Decimal(5)))
    result = threshold.evaluate(rule, "threshold", context(snapshot))
    assert result == RuleResult()


@pytest.mark.parametrize("alias", ["escrow", "frozen", "hold", "held"])
def test_held_aliases_normalise_to_held(alias: str) -> None:
    """Provider words for held funds (escrow, frozen, hold) all mean the ``held`` kind."""
    rule = ThresholdRule.model_validate({"above": 100, "balance": alias})
    assert rule.balance == "held"
    snapshot = snap(0, TND=Balance(available=Decimal(0), held=Decimal(150)))
    condition = only(threshold.evaluate(rule, "threshold", context(snapshot)))
    assert condition.balance_kind == "held"
    assert condition.value == Decimal(150)
    assert Balance(held=Decimal(3)).kind(alias) == Decimal(3)


def test_threshold_runway_hint_uses_decreases_in_the_recent_history() -> None:
    """A ``below`` condition carries the time left at the current rate (to zero)."""
    rule = ThresholdRule.model_validate({"below": 1000})
    history = series([(-60, 1360)])
    condition = only(threshold.evaluate(rule, "threshold", context(available(1000 - 640), history)))
    # 1000 spent in 60 min; 360 left -> 21.6 min
    assert condition.runway_seconds == pytest.approx(360 / 1000 * 3600)


# ================================================================ change


DROP_20: dict[str, Any] = {"drop": {"percent": 20}}
RISE_20: dict[str, Any] = {"rise": {"percent": 20}}


@pytest.mark.parametrize(
    ("spec", "points", "value", "reference"),
    [
        # since the previous poll
        pytest.param(DROP_20, [(-5, 1000)], 790, (-5, 1000), id="drop-percent"),
        pytest.param(DROP_20, [(-5, 1000)], 800, (-5, 1000), id="drop-exactly-the-size-counts"),
        pytest.param(DROP_20, [(-5, 1000)], 801, None, id="drop-just-short"),
        pytest.param(DROP_20, [(-5, 1000)], 1500, None, id="a-rise-is-not-a-drop"),
        pytest.param(DROP_20, [(-10, 1000), (-5, 800)], 790, None, id="previous-poll-only"),
        pytest.param({"drop": {"amount": 100}}, [(-5, 1000)], 900, (-5, 1000), id="drop-amount"),
        pytest.param({"drop": {"amount": 100}}, [(-5, 1000)], 901, None, id="drop-amount-short"),
        pytest.param(RISE_20, [(-5, 1000)], 1200, (-5, 1000), id="rise-percent"),
        pytest.param(RISE_20, [(-5, 1000)], 700, None, id="a-drop-is-not-a-rise"),
        pytest.param({"rise": {"amount": 50}}, [(-5, 10)], 60, (-5, 10), id="rise-amount"),
        pytest.param(DROP_20, [], 1, None, id="no-history"),
        # within a window: the extreme in the window is the reference
        pytest.param(
            {**DROP_20, "within": "1h"},
            [(-50, 900), (-40, 1000), (-30, 950), (-10, 900)],
            790,
            (-40, 1000),
            id="within-drop-measures-from-the-highest",
        ),
        pytest.param(
            {**RISE_20, "within": "1h"},
            [(-50, 1000), (-40, 800), (-30, 900)],
            960,
            (-40, 800),
            id="within-rise-measures-from-the-lowest",
        ),
        pytest.param(
            {**DROP_20, "within": "1h"},
            [(-50, 1000), (-30, 1000)],
            700,
            (-30, 1000),
            id="within-equal-highs-take-the-latest",
        ),
        pytest.param(
            {**DROP_20, "within": "1h"},
            [(-120, 5000), (-30, 1000)],
            900,
            None,
            id="within-points-outside-window-ignored",
        ),
        pytest.param(
            {**DROP_20, "within": "1h"},
            [(-60, 1000), (-30, 950)],
            800,
            (-60, 1000),
            id="within-window-edge-included",
        ),
        pytest.param(
            {**DROP_20, "within": "1h"},
            [(-180, 5000), (-120, 4000)],
            100,
            None,
            id="within-gap-no-points-in-window",
        ),
        # percentages from zero (and from a debt)
        pytest.param(RISE_20, [(-5, 0)], 5, (-5, 0), id="rise-from-zero-counts"),
        pytest.param(DROP_20, [(-5, 0)], -5, None, id="drop-from-zero-is-no-percentage"),
        pytest.param(DROP_20, [(-5, -10)], -50, None, id="drop-from-debt-is-no-percentage"),
        pytest.param(RISE_20, [(-5, -100)], -50, (-5, -100), id="rise-from-debt-counts"),
        pytest.param(
            {"drop": {"amount": 100}}, [(-5, 0)], -150, (-5, 0), id="drop-amount-from-zero"
        ),
    ],
)
def test_change_table(
    spec: dict[str, Any],
    points: list[tuple[float, Number]],
    value: Number,
    reference: tuple[float, Number] | None,
) -> None:
    """A drop (rise) by a percent or amount, against the previous poll or the window's extreme.

    ``reference`` is the (minute, value) the move is measured from, or None for no event.
    """
    rule = ChangeRule.model_validate(spec)
    result = change.evaluate(rule, "change", context(available(value), series(points)))
    assert result.evaluated == {"change:DZD"}
    if reference is None:
        assert result.conditions == []
        return
    condition = only(result)
    minutes, ref_value = reference
    assert condition.kind == "event"
    assert condition.previous == Decimal(ref_value)
    assert condition.previous_at == at(minutes)
    assert condition.event_id == at(minutes).isoformat()
    assert condition.value == Decimal(value)


def test_change_summary_gives_size_percent_and_reference() -> None:
    rule = ChangeRule.model_validate({"drop": {"percent": 20}, "within": "1h"})
    result = change.evaluate(rule, "change", context(available(790), series([(-40, 1000)])))
    assert only(result).summary == (
        "available dropped by 210.00 DZD (21.0%) to 790.00 DZD (from 1,000.00 DZD 40 min ago)"
    )
    assert only(result).severity is Severity.WARNING


def test_change_severity_is_configurable() -> None:
    rule = ChangeRule.model_validate({"drop": {"amount": 1}, "severity": "critical"})
    result = change.evaluate(rule, "change", context(available(0), series([(-5, 10)])))
    assert only(result).severity is Severity.CRITICAL


def test_change_event_id_is_the_reference_instant() -> None:
    """Two polls measuring the same move from the same reference name the same event."""
    rule = ChangeRule.model_validate({"drop": {"percent": 20}, "within": "1h"})
    history = series([(-10, 1000), (0, 700)])
    first = only(change.evaluate(rule, "change", context(available(700), history[:1])))
    again = only(change.evaluate(rule, "change", context(available(690, minutes=5), history)))
    assert first.event_id == again.event_id == at(-10).isoformat()


def test_change_after_a_reported_event_measures_from_where_it_was_detected() -> None:
    """With ``event_refs`` (when the last event was reported), a further drop inside the
    window is a new event measured from that snapshot, not hidden behind the old high."""
    rule = ChangeRule.model_validate({"drop": {"percent": 20}, "within": "1h"})
    history = series([(-20, 1000), (-10, 700)])
    refs = {"change:DZD": at(-10)}
    condition = only(change.evaluate(rule, "change", context(available(400), history, None, refs)))
    assert condition.previous == Decimal(700)
    assert condition.event_id == at(-10).isoformat()
    # a small further move from there is nothing
    small = change.evaluate(rule, "change", context(available(690), history, None, refs))
    assert small.conditions == []


def test_change_on_a_currency_gone_is_not_evaluated() -> None:
    rule = ChangeRule.model_validate({"drop": {"percent": 20}, "currency": "EUR"})
    result = change.evaluate(rule, "change", context(available(1), series([(-5, 1000)])))
    assert result == RuleResult()


# ================================================================ held_increase


@pytest.mark.parametrize(
    ("spec", "points", "value", "reference"),
    [
        pytest.param({"by": {"amount": 50}}, [(-5, 100)], 150, (-5, 100), id="by-amount"),
        pytest.param({"by": {"amount": 50}}, [(-5, 100)], 149, None, id="by-amount-short"),
        pytest.param({"by": {"percent": 25}}, [(-5, 100)], 125, (-5, 100), id="by-percent"),
        pytest.param({"by": {"percent": 25}}, [(-5, 100)], 124, None, id="by-percent-short"),
        pytest.param({"by": {"amount": 1}}, [(-5, 100)], 50, None, id="a-release-is-not-news"),
        pytest.param({"by": {"percent": 25}}, [(-5, 0)], 1, (-5, 0), id="from-zero-counts"),
        pytest.param(
            {"by": {"percent": 25}, "within": "1d"},
            [(-600, 50), (-300, 100), (-5, 110)],
            120,
            (-600, 50),
            id="within-from-the-lowest",
        ),
        pytest.param(
            {"by": {"percent": 25}, "within": "1d"},
            [(-2000, 10), (-300, 100)],
            120,
            None,
            id="within-ignores-older-points",
        ),
        pytest.param(
            {"by": {"percent": 25}},
            [(-300, 10), (-5, 100)],
            120,
            None,
            id="without-within-only-previous-poll",
        ),
    ],
)
def test_held_increase_table(
    spec: dict[str, Any],
    points: list[tuple[float, Number]],
    value: Number,
    reference: tuple[float, Number] | None,
) -> None:
    """Held funds growing by an amount or a percent: an event measured like ``change: rise``."""
    rule = HeldIncreaseRule.model_validate(spec)
    history = [held_snap(v, minutes) for minutes, v in points]
    result = held_increase.evaluate(rule, "held_increase", context(held_snap(value), history))
    assert result.evaluated == {"held_increase:TND"}
    if reference is None:
        assert result.conditions == []
        return
    condition = only(result)
    assert condition.kind == "event"
    assert condition.balance_kind == "held"
    assert (condition.previous_at, condition.previous) == (at(reference[0]), dec(reference[1]))
    assert condition.event_id == at(reference[0]).isoformat()


@pytest.mark.parametrize("alias", ["escrow", "frozen", "hold"])
def test_held_increase_accepts_provider_words_for_held(alias: str) -> None:
    rule = HeldIncreaseRule.model_validate({"kind": alias, "by": {"amount": 50}})
    assert rule.kind == "held"
    result = held_increase.evaluate(
        rule, "held_increase", context(held_snap(200), [held_snap(100, -5)])
    )
    assert only(result).summary == (
        "held funds grew by 100.000 TND to 200.000 TND (from 100.000 TND 5 min ago)"
    )


def test_held_increase_without_a_held_kind_is_not_evaluated() -> None:
    """OneClickDZ reports no held funds: the rule has nothing to say, and resolves nothing."""
    rule = HeldIncreaseRule.model_validate({"by": {"amount": 50}})
    result = held_increase.evaluate(
        rule, "held_increase", context(available(100), [available(10, minutes=-5)])
    )
    assert result == RuleResult()


# ================================================================ runway


def runway_rule(**spec: Any) -> RunwayRule:
    return RunwayRule.model_validate({"under": {"warning": "3d", "critical": "1d"}, **spec})


@pytest.mark.parametrize(
    ("points", "value", "expected_seconds"),
    [
        # 100 spent per hour
        pytest.param([(-60, 1100)], 1000, 10 * 3600, id="steady-spend"),
        pytest.param([(-180, 1300), (-120, 1200), (-60, 1100)], 1000, 10 * 3600, id="many-points"),
        # 1000 spent over 5 h, with a 1000 top-up in between
        pytest.param(
            [(-300, 1000), (-200, 500), (-100, 1500)], 1000, 5 * 3600, id="top-up-is-not-spend"
        ),
        pytest.param([(-400, 0), (-300, 1000)], 1000, None, id="only-top-ups-is-not-spending"),
        pytest.param([(-60, 1000)], 1000, None, id="flat-is-not-spending"),
        pytest.param([(-60, 1100)], 0, 0, id="empty-is-zero-runway"),
        pytest.param([(-600, 99999), (-60, 1100)], 1000, 10 * 3600, id="outside-window-ignored"),
    ],
)
def test_runway_spend_rate_counts_decreases_only(
    points: list[tuple[float, Number]], value: Number, expected_seconds: float | None
) -> None:
    """Runway = value / rate, where the rate sums decreases only over the window (6 h)."""
    ctx = context(available(value), series(points))
    seconds = runway.estimate_runway(ctx, "DZD", "available", Decimal(0))
    if expected_seconds is None:
        assert seconds is None
    else:
        assert seconds == pytest.approx(expected_seconds)


@pytest.mark.parametrize(
    ("under", "hours_left", "expected"),
    [
        pytest.param({"warning": "3d", "critical": "1d"}, 12, C, id="under-critical"),
        pytest.param({"warning": "3d", "critical": "1d"}, 48, W, id="under-warning"),
        pytest.param({"warning": "3d", "critical": "1d"}, 96, None, id="enough-runway"),
        pytest.param({"warning": "3d", "critical": "1d"}, 24, W, id="exactly-critical-is-warning"),
        pytest.param({"warning": "3d", "critical": "1d"}, 72, None, id="exactly-warning-quiet"),
        pytest.param("1d", 12, W, id="bare-duration-is-warning"),
        pytest.param({"critical": "1d"}, 12, C, id="critical-only"),
    ],
)
def test_runway_levels(under: Any, hours_left: int, expected: Severity | None) -> None:
    """Fires when the estimated time left is strictly under a level, the worst level first."""
    rule = RunwayRule.model_validate({"under": under})
    # spend 10 per hour for the last hour; hours_left * 10 left
    ctx = context(available(hours_left * 10), series([(-60, hours_left * 10 + 10)]))
    result = runway.evaluate(rule, "runway", ctx)
    assert result.evaluated == {"runway:DZD"}
    assert severity_of(result) == expected
    if expected is not None:
        assert only(result).runway_seconds == pytest.approx(hours_left * 3600)


@pytest.mark.parametrize(
    "points",
    [
        pytest.param([], id="no-history"),
        pytest.param([(-0.5, 2000)], id="under-a-minute-of-history"),
        pytest.param([(-500, 2000)], id="history-only-outside-window"),
    ],
)
def test_runway_without_enough_history_is_not_evaluated(
    points: list[tuple[float, Number]],
) -> None:
    """No rate is known, so a firing runway alert neither fires nor resolves."""
    result = runway.evaluate(runway_rule(), "runway", context(available(10), series(points)))
    assert result == RuleResult()


def test_runway_not_spending_is_evaluated_and_quiet() -> None:
    """A known rate of zero is good news: evaluated (so it resolves), no condition."""
    result = runway.evaluate(
        runway_rule(), "runway", context(available(10), series([(-60, 5), (-30, 10)]))
    )
    assert result == RuleResult([], frozenset({"runway:DZD"}))


def test_runway_window_is_configurable() -> None:
    """``window: 1h`` ignores a steep spend two hours ago."""
    rule = runway_rule(window="1h")
    history = series([(-120, 100_000), (-60, 510)])
    result = runway.evaluate(rule, "runway", context(available(500), history))
    assert only(result).runway_seconds == pytest.approx(50 * 3600)
    assert only(result).severity is Severity.WARNING


def test_runway_summary() -> None:
    result = runway.evaluate(runway_rule(), "runway", context(available(120), series([(-60, 130)])))
    assert only(result).summary == (
        "available 120.00 DZD is ~12 h from running out at the current rate (alert under 1 d)"
    )


def entries(*specs: dict[str, Any]) -> list[RuleEntry]:
    return [RuleEntry.model_validate(spec) for spec in specs]


RUNWAY = {"runway": {"under": {"warning": "3d", "critical": "1d"}}}


@pytest.mark.parametrize(
    ("threshold_spec", "floor"),
    [
        pytest.param({"below": {"warning": 5000, "critical": 1000}}, 1000, id="critical-level"),
        pytest.param({"below": {"critical": 1000}}, 1000, id="critical-only"),
        pytest.param({"below": 5000}, None, id="warning-only-means-zero"),
        pytest.param({"above": {"critical": 1000}}, None, id="above-is-not-a-floor"),
        pytest.param({"below": {"critical": 1000}, "balance": "total"}, None, id="other-kind"),
        pytest.param({"below": {"critical": 1000}, "currency": "EUR"}, None, id="other-currency"),
    ],
)
def test_runway_floor_is_the_critical_below_level_on_the_same_kind(
    threshold_spec: dict[str, Any], floor: int | None
) -> None:
    """Running into the critical alert is running out; without one, the floor is zero."""
    rules = entries({"threshold": threshold_spec}, RUNWAY)
    ctx = context(available(2000))
    spec = rules[1].spec
    assert isinstance(spec, RunwayRule)
    expected = {} if floor is None else {"DZD": Decimal(floor)}
    assert runway_floors(rules, spec, ctx) == expected


def test_runway_floor_takes_the_highest_critical_of_several_thresholds() -> None:
    rules = entries(
        {"threshold": {"below": {"critical": 500}}},
        {"threshold": {"below": {"critical": 1000}}},
        RUNWAY,
    )
    spec = rules[2].spec
    assert isinstance(spec, RunwayRule)
    assert runway_floors(rules, spec, context(available(1))) == {"DZD": Decimal(1000)}


def test_runway_is_measured_to_the_floor_through_the_engine() -> None:
    """2000 left, 1000 of it above the critical level, spending 100/h: 10 h, not 20 h."""
    rules = entries({"threshold": {"below": {"critical": 1000}}}, RUNWAY)
    ctx = context(available(2000), series([(-60, 2100)]))
    result = evaluate_rules(rules, rule_ids(rules), ctx)
    condition = only(result)
    assert condition.rule == "runway"
    assert condition.severity is Severity.CRITICAL
    assert condition.threshold == Decimal(1000)
    assert condition.runway_seconds == pytest.approx(10 * 3600)
    assert "from reaching 1,000.00 DZD" in condition.summary
    assert result.evaluated == {"threshold:DZD", "runway:DZD"}


# ================================================================ health


@pytest.mark.parametrize(
    ("error", "failures", "fired", "evaluated"),
    [
        pytest.param(None, 0, [], {"auth:*", "unreachable:*"}, id="success-clears-both"),
        pytest.param(AuthError("HTTP 401"), 1, ["auth"], {"auth:*", "unreachable:*"}, id="auth"),
        pytest.param(TransientError("timeout"), 1, [], set(), id="first-failure-is-weather"),
        pytest.param(TransientError("timeout"), 2, [], set(), id="below-failures-before-alert"),
        pytest.param(
            TransientError("HTTP 503"), 3, ["unreachable"], {"unreachable:*"}, id="at-the-count"
        ),
        pytest.param(
            TransientError("HTTP 503"), 7, ["unreachable"], {"unreachable:*"}, id="past-the-count"
        ),
        pytest.param(RateLimited("429"), 3, ["unreachable"], {"unreachable:*"}, id="rate-limited"),
        pytest.param(
            MalformedResponse("not JSON"), 3, ["unreachable"], {"unreachable:*"}, id="malformed"
        ),
        pytest.param(RateLimited("429"), 2, [], set(), id="rate-limited-below-count"),
    ],
)
def test_health_table(
    error: ProviderError | None, failures: int, fired: list[str], evaluated: set[str]
) -> None:
    """Auth fires critical at once (and clears unreachable); other errors fire unreachable
    only at ``failures_before_alert``, and below it neither fire nor resolve anything;
    a success clears both."""
    result = health.evaluate(error, failures, 3)
    assert [c.rule for c in result.conditions] == fired
    assert all(c.severity is Severity.CRITICAL for c in result.conditions)
    assert all(c.key == f"{c.rule}:*" for c in result.conditions)
    assert result.evaluated == evaluated


def test_health_summaries_say_what_failed() -> None:
    auth = only(health.evaluate(AuthError("HTTP 401 invalid key"), 1, 3))
    assert auth.summary.startswith("credentials rejected (HTTP 401 invalid key)")
    down = only(health.evaluate(TransientError("HTTP 503"), 3, 3))
    assert down.summary == "unreachable for 3 polls in a row (transient: HTTP 503)"


# ================================================================ engine


def test_engine_runs_every_rule_and_joins_their_results() -> None:
    rules = entries(
        {"threshold": {"below": {"warning": 5000, "critical": 1000}}},
        {"threshold": {"below": 100, "balance": "pending"}},
        {"change": {"drop": {"percent": 20}}},
        {"held_increase": {"by": {"amount": 1}}},
    )
    ids = rule_ids(rules)
    assert ids == ["threshold", "threshold-2", "change", "held_increase"]
    result = evaluate_rules(rules, ids, context(available(950), series([(-2, 1420)])))
    assert sorted(c.key for c in result.conditions) == ["change:DZD", "threshold:DZD"]
    # pending and held are not reported: those rules were not evaluated
    assert result.evaluated == {"threshold:DZD", "change:DZD"}


def test_runway_with_a_short_window_needs_only_half_of_it() -> None:
    """A 30 s window (the demo's) is a rate after 15 s of history, not after a minute."""
    rule = RunwayRule.model_validate({"under": {"warning": "3m"}, "window": "30s"})
    ctx = context(available(4400), series([(-0.3, 5000), (-0.2, 4800), (-0.1, 4600)]))
    result = runway.evaluate(rule, "runway", ctx)
    assert severity_of(result) == Severity.WARNING
    assert only(result).runway_seconds == pytest.approx(4400 / (600 / 18))
