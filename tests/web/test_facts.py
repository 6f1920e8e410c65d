"""What the page says about an account beyond its rows: state, followed amount, levels,
runway, episodes. Pure functions on plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from balancewatch.config.load import parse_config
from balancewatch.model import Balance, Severity, Snapshot
from balancewatch.poll.plan import plan_config
from balancewatch.records import AlertState, Health, Notification
from balancewatch.web import facts
from balancewatch.web.listing import Listing

T0 = datetime(2024, 5, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
CONFIG = parse_config(
    """
accounts:
  - name: shop
    provider: thedex
    api_key: k-shop-000000001
    secret: s-shop-000000001
    rules:
      - threshold: {currency: USDT_TRON, balance: total, below: {warning: 500, critical: 100}}
      - held_increase: {kind: escrow, by: {amount: 10}}
  - name: plain
    provider: sunor
    api_key: k-plain-00000001
    enabled: false
"""
)
SHOP, PLAIN = Listing.of(CONFIG).accounts[::-1]


def test_state_is_disabled_then_worst_firing_then_failing_waiting_ok() -> None:
    """The order the overview sorts by, from what is stored."""
    firing = AlertState(
        "shop", "k", "r", "threshold", None, "state", "firing", Severity.WARNING, "s"
    )
    assert facts.state_of(PLAIN, None, [firing]) == "disabled"
    assert facts.state_of(SHOP, None, [firing]) == "warning"
    assert facts.state_of(SHOP, Health("shop", consecutive_failures=2), []) == "failing"
    assert facts.state_of(SHOP, None, []) == "waiting"
    assert facts.state_of(SHOP, Health("shop"), []) == "ok"


def test_the_followed_amount_is_the_first_threshold_rules() -> None:
    """shop's threshold watches total USDT_TRON; an account without rules, its first
    currency's available amount."""
    snap = Snapshot(
        "shop", T0, {"BTC": Balance(total=Decimal(1)), "USDT_TRON": Balance(total=Decimal(5))}
    )
    assert facts.main_amount(SHOP, snap) == ("USDT_TRON", "total")
    plain = Snapshot("plain", T0, {"CREDITS": Balance(available=Decimal(3))})
    assert facts.main_amount(PLAIN, plain) == ("CREDITS", "available")
    assert facts.main_amount(PLAIN, None) is None


def test_levels_and_the_runway_floor_come_from_matching_thresholds() -> None:
    """Both levels on total USDT_TRON; none on another kind; the floor is the critical one."""
    assert [(lv.value, lv.tone) for lv in facts.levels(SHOP, "USDT_TRON", "total")] == [
        (Decimal(100), "critical"),
        (Decimal(500), "warning"),
    ]
    assert facts.levels(SHOP, "USDT_TRON", "available") == []
    assert facts.floor(SHOP, "USDT_TRON", "total") == Decimal(100)
    assert facts.floor(SHOP, "USDT_TRON", "available") == Decimal(0)
    assert facts.rule_kinds(SHOP) == {"threshold": "total", "held_increase": "held"}


def test_runway_counts_only_decreases_and_a_top_up_does_not_hide_the_burn() -> None:
    """Spent 100 an hour over three hours (a top-up between): 200 left to the floor of
    100 at that rate is one hour."""
    series = [
        (T0, Decimal(400)),
        (T0 + HOUR, Decimal(300)),
        (T0 + HOUR * 2, Decimal(500)),  # top-up
        (T0 + HOUR * 3, Decimal(400)),
        (T0 + HOUR * 4, Decimal(300)),
    ]
    left = facts.runway(series, Decimal(100), T0 + HOUR * 4)
    assert left == timedelta(hours=2, minutes=40)  # 300 spent in 4 h: 75/h; 200 left
    assert facts.runway(series[:1], Decimal(0), T0) is None
    flat = [(T0, Decimal(5)), (T0 + HOUR, Decimal(5))]
    assert facts.runway(flat, Decimal(0), T0 + HOUR) is None
    assert facts.runway_text(timedelta(0), Decimal(100), "DZD") == "already at or below 100.00 DZD"
    assert facts.runway_text(HOUR * 3, Decimal(0), "DZD") == "~3 h to zero"


def note(nid: str, kind: str, at: datetime, severity: Severity = Severity.WARNING) -> Notification:
    return Notification(nid, "shop", "low:DZD", kind, severity, nid, "", at, "p")  # type: ignore[arg-type]


def test_an_episode_is_cut_where_it_escalated_and_ends_where_it_resolved() -> None:
    """warning from 0 h, critical from 1 h, resolved at 2 h: two bands, each its colour."""
    bands = facts.episodes(
        [
            note("f", "firing", T0),
            note("e", "escalated", T0 + HOUR, Severity.CRITICAL),
            note("r", "resolved", T0 + 2 * HOUR),
        ],
        [],
        T0,
    )
    assert [(b.start, b.end, b.tone) for b in bands] == [
        (T0, T0 + HOUR, "warning"),
        (T0 + HOUR, T0 + 2 * HOUR, "critical"),
    ]


def test_an_alert_firing_now_is_an_open_band_from_when_it_started() -> None:
    """No notification kept: the band starts at the alert's start and has no end."""
    firing = AlertState(
        "shop", "low:DZD", "low", "threshold", "DZD", "state", "firing", Severity.CRITICAL,
        "below", started_at=T0 + HOUR,
    )  # fmt: skip
    (band,) = facts.episodes([], [firing], T0)
    assert (band.start, band.end, band.tone) == (T0 + HOUR, None, "critical")
    assert "below" in band.label


def test_the_listing_shows_the_daemons_plans_and_its_disabled_accounts() -> None:
    """The daemon keeps plans of what it polls and only the disabled accounts' models
    (plan_config): the page lists both, by name, the disabled one as disabled."""
    kept, plans, _ = plan_config(CONFIG)
    listed = Listing.of(kept, plans)
    assert [(a.name, a.enabled) for a in listed.accounts] == [("plain", False), ("shop", True)]
    assert listed.by_name["shop"] is plans["shop"]
