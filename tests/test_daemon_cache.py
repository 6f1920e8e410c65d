"""The daemon's in-memory view: bounded history, and firing counts kept without rescans."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from balancewatch.config import parse_config
from balancewatch.daemon_cache import AccountCache
from balancewatch.model import Balance, Severity, Snapshot
from balancewatch.poller import decide, make_plan, recent_history
from balancewatch.records import AlertState, Health, PollRecord

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

CONFIG = """\
accounts:
  - name: shop
    provider: oneclickdz
    api_key: key-123456
    rules:
      - threshold: {{below: {{warning: 5000, critical: 1000}}}}
{extra}
"""


def plan(extra: str = ""):  # type: ignore[no-untyped-def]
    config = parse_config(CONFIG.format(extra=extra))
    return make_plan(config.accounts[0], config.defaults)


def snap(minute: int, value: int) -> Snapshot:
    return Snapshot(
        "shop", T0 + timedelta(minutes=minute), {"DZD": Balance(available=Decimal(value))}
    )


def test_threshold_only_accounts_keep_just_the_previous_snapshot() -> None:
    """No rule looks back, so memory holds one snapshot per account, not a day of them."""
    p = plan()
    assert p.history_window == timedelta(0)
    cache = AccountCache()
    for minute in range(30):
        cache.remember(
            PollRecord("shop", snap(minute, 6000).taken_at, snap(minute, 6000), Health("shop"))
        )
        history = cache.history_for("shop", p, T0 + timedelta(minutes=minute + 1))
    assert [s.taken_at for s in history] == [T0 + timedelta(minutes=29)]


def test_rules_with_a_window_keep_that_window() -> None:
    """A `change ... within: 10m` keeps ten minutes of history (and not more)."""
    p = plan("      - change: {drop: {percent: 20}, within: 10m}")
    assert p.history_window == timedelta(minutes=10)
    cache = AccountCache()
    for minute in range(30):
        cache.remember(
            PollRecord("shop", snap(minute, 6000).taken_at, snap(minute, 6000), Health("shop"))
        )
    history = cache.history_for("shop", p, T0 + timedelta(minutes=30))
    assert len(history) == 10
    assert history[0].taken_at == T0 + timedelta(minutes=20)


def test_recent_history_always_includes_the_previous_poll() -> None:
    """However old, the latest earlier snapshot is the 'previous poll' of the next."""
    old = [snap(0, 10), snap(1, 9)]
    assert recent_history(old, timedelta(0), T0 + timedelta(hours=5)) == [old[1]]
    assert recent_history(old, timedelta(minutes=90), T0 + timedelta(minutes=60)) == old
    assert recent_history([], timedelta(0), T0) == []


def test_firing_counts_follow_every_transition() -> None:
    """Fire, escalate, resolve: the gauge's counts follow without rescanning all accounts."""
    p = plan()
    cache = AccountCache()
    health, states = None, {}
    expected = [{Severity.WARNING: 1}, {Severity.CRITICAL: 1}, {}]
    for minute, (value, counts) in enumerate(zip([4000, 900, 6000], expected, strict=True)):
        record, _ = decide(
            p,
            snap(minute, value),
            previous_health=health,
            history=[],
            states=states,
            now=snap(minute, value).taken_at,
            poll_id=str(minute),
        )
        cache.remember(record)
        health = record.health
        states.update({s.key: s for s in record.alerts})
        assert cache.firing_counts() == counts


def test_forgetting_an_account_removes_its_alerts_from_the_counts() -> None:
    """An account dropped by a reload no longer counts as firing."""
    cache = AccountCache()
    state = AlertState(
        "shop",
        "threshold:DZD",
        "threshold",
        "threshold",
        "DZD",
        "state",
        "firing",
        Severity.CRITICAL,
        "low",
    )
    cache.remember(PollRecord("shop", T0, None, Health("shop"), [state]))
    cache.remember(
        PollRecord("shop", T0, None, Health("shop"), [replace(state, severity=Severity.CRITICAL)])
    )
    assert cache.firing_counts() == {Severity.CRITICAL: 1}
    cache.forget("shop")
    assert cache.firing_counts() == {}
