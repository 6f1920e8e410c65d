"""The daemon's in-memory view: bounded history, and firing counts kept without rescans."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from balancewatch.config.load import parse_config
from balancewatch.daemon.cache import AccountCache
from balancewatch.model import Balance, Severity, Snapshot, TransientError
from balancewatch.poll.decide import decide, recent_history
from balancewatch.poll.plan import AccountPlan, make_plan
from balancewatch.records import Acknowledgement, AlertState, Health, PollRecord
from balancewatch.rules.specs import HeldIncreaseRule
from balancewatch.state.sqlite import SqliteStore

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


def plan(extra: str = "") -> AccountPlan:
    config = parse_config(CONFIG.format(extra=extra))
    return make_plan(config.accounts[0], config.defaults)


def snap(minute: int, value: int) -> Snapshot:
    return Snapshot(
        "shop", T0 + timedelta(minutes=minute), {"DZD": Balance(available=Decimal(value))}
    )


def poll_every_minute(cache: AccountCache, p: AccountPlan, minutes: int) -> list[Snapshot]:
    """What the daemon does each poll: read the history for the rules, then remember."""
    history: list[Snapshot] = []
    for minute in range(minutes):
        history = cache.history_for("shop", p, snap(minute, 6000).taken_at).snapshots()
        cache.remember(
            PollRecord("shop", snap(minute, 6000).taken_at, snap(minute, 6000), Health("shop"))
        )
    return history


def test_threshold_only_accounts_keep_just_the_previous_snapshot() -> None:
    """No rule looks back, so memory holds one snapshot per account, not a day of them."""
    p = plan()
    assert p.history_window == timedelta(0)
    history = poll_every_minute(AccountCache(), p, 31)
    assert [s.taken_at for s in history] == [T0 + timedelta(minutes=29)]


def test_rules_with_a_window_keep_that_window() -> None:
    """A `change ... within: 10m` keeps ten minutes of history (and not more)."""
    p = plan("      - change: {drop: {percent: 20}, within: 10m}")
    assert p.history_window == timedelta(minutes=10)
    history = poll_every_minute(AccountCache(), p, 31)
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


# ---------------------------------------------------------------- the cache against the store

MIXED_RULES = """\
      - threshold: {below: {warning: 5000, critical: 1000}, clear_margin: 250}
      - threshold: {currency: USD, above: {warning: 900}, balance: escrow}
      - change: {drop: {percent: 20}, within: 30m}
      - change: {currency: USD, rise: {amount: 50}}
      - held_increase: {kind: frozen, by: {percent: 25}, within: 20m}
      - runway: {under: {warning: 3d, critical: 1d}, window: 45m}
"""
ONE_CURRENCY_RULES = """\
      - change: {currency: DZD, rise: {percent: 10}, within: 15m}
"""
LONGEST_GAP = timedelta(hours=2)
"""Longer than any gap between ``wandering_polls``: reading the window plus this from the
store always finds the previous poll (``check`` reads a day for the same reason)."""


def wandering_polls(seed: int, count: int) -> Iterator[tuple[datetime, Snapshot | TransientError]]:
    """Polls whose balances drop, rise, stand still and go missing, at uneven times.

    Amounts are written with varying places (``5000.0`` is not ``5000.00``), a second
    currency comes and goes, kinds are sometimes not reported, some polls fail, and a
    few gaps are longer than every window (the previous poll is then the only history).
    """
    rng = random.Random(seed)
    at = T0
    available, held = Decimal(6000), Decimal(100)
    for _ in range(count):
        at += timedelta(
            seconds=rng.choice([60, 60, 60, 61, 59, 90, 3600 if rng.random() < 0.02 else 60])
        )
        if rng.random() < 0.05:
            yield at, TransientError("timeout")
            continue
        move = rng.choice(["same", "same", "drop", "rise", "crash", "topup"])
        available += {
            "same": Decimal(0),
            "drop": -Decimal(rng.randint(1, 300)),
            "rise": Decimal(rng.randint(1, 200)),
            "crash": -available * Decimal("0.4"),
            "topup": Decimal(rng.randint(1000, 5000)),
        }[move]
        if rng.random() < 0.1:
            held += Decimal(rng.randint(0, 80))
        places = rng.choice(["1", "0.1", "0.01"])
        balances = {
            "DZD": Balance(
                available=available.quantize(Decimal(places)),
                held=held if rng.random() < 0.8 else None,
                total=available + held,
            )
        }
        if rng.random() < 0.6:
            balances["USD"] = Balance(
                available=Decimal(rng.choice([800, 800, 860, 990])), held=Decimal(950)
            )
        yield at, Snapshot("shop", at, balances)


def readable(history: list[Snapshot], p: AccountPlan) -> list[tuple[datetime, list[str]]]:
    """What ``p``'s rules can read of a history: each poll's time, and the amounts (as
    written) of the kinds and currencies they name (every currency if one names none)."""
    specs = [entry.spec for entry in p.rules.entries]
    kinds = sorted({s.kind if isinstance(s, HeldIncreaseRule) else s.balance for s in specs})
    named = {s.currency for s in specs}
    return [
        (
            s.taken_at,
            [
                f"{currency}.{kind}={balance.kind(kind)!r}"
                for currency, balance in sorted(s.balances.items())
                for kind in kinds
                if balance.kind(kind) is not None and (None in named or currency in named)
            ],
        )
        for s in history
    ]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore.open(tmp_path / "state.db", now=T0)
    yield opened
    opened.close()


async def direct(func: Callable[..., Any], *args: Any) -> Any:
    return func(*args)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_rules_decide_the_same_from_the_cache_as_from_the_store(
    store: SqliteStore, seed: int
) -> None:
    """Over 400 polls, every decision made on the cached history equals the one made on the
    history read back from SQLite (what the cache replaces): same conditions, alerts and
    messages, with a reload half way that changes the window, the kinds and the currencies
    the rules read."""
    plans = [plan(MIXED_RULES), plan(ONE_CURRENCY_RULES), plan(MIXED_RULES)]
    cache = AccountCache()
    health: Health | None = None
    states: dict[str, AlertState] = {}
    fired: set[str] = set()
    for n, (now, outcome) in enumerate(wandering_polls(seed, 400)):
        p = plans[n * len(plans) // 400]
        asyncio.run(cache.ensure("shop", p, store, direct, now))
        cached = cache.history_for("shop", p, now)
        stored = recent_history(
            store.history("shop", now - p.history_window - LONGEST_GAP),
            p.history_window,
            now,
        )
        assert readable(cached.snapshots(), p) == readable(stored, p)
        decisions = [
            decide(
                p,
                outcome,
                previous_health=health,
                history=history,
                states=states,
                now=now,
                poll_id=str(n),
            )
            for history in (cached, stored)
        ]
        assert repr(decisions[0]) == repr(decisions[1])
        record, result = decisions[1]
        store.commit_poll(record)
        cache.remember(record)
        health = record.health
        states.update({s.key: s for s in record.alerts})
        fired |= {c.rule_type for c in result.conditions}
    assert fired >= {"threshold", "change", "held_increase", "runway"}


def test_the_cache_keeps_only_the_amounts_the_rules_read() -> None:
    """A threshold on `available` keeps each currency's available amount, nothing else, and
    polls that saw the same amounts share them instead of holding copies."""
    p = plan("      - change: {drop: {percent: 20}, within: 10m}")
    cache = AccountCache()
    for minute in range(5):
        at = T0 + timedelta(minutes=minute)
        cache.history_for("shop", p, at)
        full = {
            "DZD": Balance(Decimal("6000.00"), Decimal(5), Decimal(7), Decimal("6012.00")),
            "USD": Balance(available=Decimal(3), held=Decimal(1)),
        }
        cache.remember(PollRecord("shop", at, Snapshot("shop", at, full), Health("shop")))
    history = cache.history_for("shop", p, T0 + timedelta(minutes=5)).snapshots()
    assert [dict(s.balances) for s in history] == [
        {"DZD": Balance(available=Decimal("6000.00")), "USD": Balance(available=Decimal(3))}
    ] * 5
    assert all(s.balances is history[0].balances for s in history)


# ---------------------------------------------------------------- acknowledgements


def test_an_acknowledgement_from_another_process_stops_reminders_from_the_next_refresh(
    store: SqliteStore,
) -> None:
    """Stored by someone else, an acknowledgement is read with the silences (at most every
    SILENCE_REFRESH); from then on the account's reminders stop. One taken from this
    daemon's own page (``take_ack``) applies at once."""
    p = plan("    repeat: 1m")
    cache = AccountCache()
    states: dict[str, AlertState] = {}

    def poll_at(minute: int) -> list[str]:
        now = snap(minute, 4000).taken_at
        asyncio.run(cache.ensure("shop", p, store, direct, now))
        asyncio.run(cache.silences(store, direct, now))
        record, _ = decide(
            p, snap(minute, 4000), previous_health=None, history=[], states=states,
            now=now, poll_id=str(minute), acked=cache.acked,
        )  # fmt: skip
        store.commit_poll(record)
        cache.remember(record)
        states.update({s.key: s for s in record.alerts})
        return [n.kind for n in record.notifications]

    assert poll_at(0) == ["firing"]
    firing = states["threshold:DZD"]
    assert firing.started_at is not None
    ack = Acknowledgement("shop", firing.key, firing.started_at, firing.severity, T0, "ana")
    store.acknowledge(ack)
    assert cache.holding_acks() == []  # not read yet: refreshed at minute 0 already
    assert poll_at(1) == []  # read at this poll's refresh (a minute after the last)
    assert cache.holding_acks() == [ack]
    assert [poll_at(m) for m in range(2, 10)] == [[]] * 8

    fresh = AccountCache()
    assert not fresh.acked(states["threshold:DZD"])
    fresh.take_ack(ack)
    assert fresh.acked(states["threshold:DZD"])


def test_an_acknowledgement_taken_from_the_page_survives_a_refresh_that_missed_it(
    store: SqliteStore,
) -> None:
    """The page hands it over before writing it: a refresh reading the store in between
    (without it) does not drop it, nor does one after it is stored."""
    state = AlertState(
        "shop", "threshold:DZD", "threshold", "threshold", "DZD", "state", "firing",
        Severity.CRITICAL, "low", started_at=T0, last_notified_at=T0,
    )  # fmt: skip
    ack = Acknowledgement("shop", state.key, T0, Severity.CRITICAL, T0 + timedelta(minutes=1))
    cache = AccountCache()
    cache.take_ack(ack)
    asyncio.run(cache.silences(store, direct, T0))
    assert cache.acked(state)
    store.acknowledge(ack)
    asyncio.run(cache.silences(store, direct, T0 + timedelta(minutes=5)))
    assert cache.acked(state)
    assert not cache.acked(replace(state, started_at=T0 + timedelta(minutes=2)))


def test_an_acknowledgement_that_could_not_be_written_is_withdrawn() -> None:
    """The page hands it over, the write fails: it no longer quiets anything."""
    state = AlertState(
        "shop", "threshold:DZD", "threshold", "threshold", "DZD", "state", "firing",
        Severity.CRITICAL, "low", started_at=T0, last_notified_at=T0,
    )  # fmt: skip
    ack = Acknowledgement("shop", state.key, T0, Severity.CRITICAL, T0 + timedelta(minutes=1))
    cache = AccountCache()
    cache.take_ack(ack)
    assert cache.acked(state)
    cache.withdraw_ack(ack)
    assert not cache.acked(state)
    assert cache.holding_acks() == []
