"""Polling policy: backoff, Retry-After and the auth quarantine, decided with a clock passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from balancewatch.config.load import parse_config
from balancewatch.model import AuthError, Balance, RateLimited, Snapshot, TransientError
from balancewatch.poll.decide import AUTH_QUARANTINE, decide, may_poll, next_health
from balancewatch.poll.plan import make_plan

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

CONFIG = """\
defaults: {{interval: 1m, timeout: 10s, failures_before_alert: 3}}
accounts:
  - name: shop
    provider: oneclickdz
    api_key: {key}
    rules:
      - threshold: {{below: 1000}}
"""


def plan(key: str = "key-one-123"):  # type: ignore[no-untyped-def]
    config = parse_config(CONFIG.format(key=key))
    return make_plan(config.accounts[0], config.defaults)


def test_a_rejected_key_quarantines_the_account_for_15_minutes() -> None:
    """After an auth error, no request for 15 minutes: some providers lock out the whole IP."""
    p = plan()
    health = next_health(p, None, AuthError("HTTP 401"), T0)
    assert health.not_before == T0 + AUTH_QUARANTINE
    assert not may_poll(p, health, T0 + timedelta(minutes=14, seconds=59))
    assert may_poll(p, health, T0 + AUTH_QUARANTINE)


def test_a_changed_config_lifts_the_auth_quarantine_at_once() -> None:
    """A new key is a new chance: the quarantine applies to the config that was rejected."""
    health = next_health(plan("old-key-123"), None, AuthError("HTTP 401"), T0)
    assert not may_poll(plan("old-key-123"), health, T0 + timedelta(minutes=1))
    assert may_poll(plan("new-key-456"), health, T0 + timedelta(minutes=1))


@pytest.mark.parametrize(("retry_after", "wait"), [(30.0, 30), (7200.0, 3600), (None, 60)])
def test_429_waits_for_retry_after_capped_at_an_hour(retry_after: float | None, wait: int) -> None:
    """No request before Retry-After expires; an absurd one is capped; none means backoff."""
    p = plan()
    health = next_health(p, None, RateLimited("HTTP 429", retry_after=retry_after), T0)
    assert health.not_before == T0 + timedelta(seconds=wait)


def test_transient_failures_back_off_exponentially_and_cap() -> None:
    """1, 2, 4, 8 intervals... capped at 15 minutes; a success resets everything."""
    p = plan()
    health = None
    waits = []
    for i in range(6):
        health = next_health(p, health, TransientError("HTTP 503"), T0)
        assert health.not_before is not None
        waits.append(int((health.not_before - T0).total_seconds()))
        assert health.consecutive_failures == i + 1
    assert waits == [60, 120, 240, 480, 900, 900]
    ok = Snapshot("shop", T0, {"DZD": Balance(available=Decimal(5))})
    healthy = next_health(p, health, ok, T0)
    assert healthy.consecutive_failures == 0
    assert healthy.not_before is None


def test_a_failed_poll_never_fires_or_resolves_a_balance_alert() -> None:
    """Unknown is not zero: a failure evaluates health only, the threshold key is untouched."""
    p = plan()
    low = Snapshot("shop", T0, {"DZD": Balance(available=Decimal(10))})
    record, _ = decide(p, low, previous_health=None, history=[], states={}, now=T0, poll_id="a")
    states = {s.key: s for s in record.alerts}
    assert states["threshold:DZD"].status == "firing"
    later = T0 + timedelta(minutes=1)
    failed, result = decide(
        p,
        TransientError("timeout"),
        previous_health=record.health,
        history=[low],
        states=states,
        now=later,
        poll_id="b",
    )
    assert "threshold:DZD" not in result.evaluated
    assert failed.alerts == []
    assert failed.notifications == []
    assert failed.snapshot is None


def test_the_third_failure_in_a_row_fires_unreachable_once() -> None:
    """failures_before_alert: 3 means the third failed poll notifies, not the first two."""
    p = plan()
    health, states, kinds = None, {}, []
    for i in range(4):
        record, _ = decide(
            p,
            TransientError("HTTP 502"),
            previous_health=health,
            history=[],
            states=states,
            now=T0 + timedelta(minutes=i),
            poll_id=str(i),
        )
        health = record.health
        states.update({s.key: s for s in record.alerts})
        kinds.append([n.kind for n in record.notifications])
    assert kinds == [[], [], ["firing"], []]
