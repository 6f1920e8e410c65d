"""Message text: what, where, how much, compared with what, and what next (DESIGN §5).

Transitions are built the way the daemon builds them: the real rules over Snapshots, then
``advance``, then ``render``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from balancewatch.alerts import Policy, Transition, advance
from balancewatch.model import (
    AuthError,
    Balance,
    ProviderError,
    Severity,
    Snapshot,
    TransientError,
)
from balancewatch.notify.wording import Where, notification_id, render, system_notification
from balancewatch.records import AlertState, Notification
from balancewatch.rules import RuleContext, evaluate_rules
from balancewatch.rules import health as health_rules
from balancewatch.rules.history import SnapshotHistory
from balancewatch.rules.specs import RuleEntry, rule_ids

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "oneclick-main"
WHERE = Where(ACCOUNT, "oneclickdz", ("payments",))
POLICY = Policy(repeat=timedelta(hours=6))
LEVELS = {"threshold": {"below": {"warning": 5000, "critical": 1000}}}

Number = int | str | Decimal


def snapshot(seconds_ago: float, value: Number, currency: str = "DZD") -> Snapshot:
    when = NOW - timedelta(seconds=seconds_ago)
    return Snapshot(ACCOUNT, when, {currency: Balance(available=Decimal(value))})


def transitions(
    rules: Sequence[dict[str, Any]],
    history: Sequence[Snapshot],
    current: Snapshot,
    states: dict[str, AlertState] | None = None,
) -> list[Transition]:
    """The real rules over ``current`` and ``history``, then one lifecycle step."""
    entries = [RuleEntry.model_validate(spec) for spec in rules]
    ctx = RuleContext(current, SnapshotHistory(list(history)), current.taken_at)
    result = evaluate_rules(entries, rule_ids(entries), ctx)
    _, steps = advance(ACCOUNT, states or {}, result, now=current.taken_at, policy=POLICY)
    return steps


def one(steps: list[Transition]) -> Transition:
    assert len(steps) == 1, steps
    return steps[0]


# The history behind the DESIGN example: 1,536 about 5.5 h ago, 1,420 two minutes ago, 950
# now. 586 spent in 20,000 s is 0.0293 per second: 950 lasts 32,423 s, about 9 h.
EXAMPLE_HISTORY = [snapshot(20_000, 1536), snapshot(120, 1420)]
EXAMPLE_NOW = snapshot(0, 950)


def example() -> Notification:
    step = one(transitions([LEVELS], EXAMPLE_HISTORY, EXAMPLE_NOW))
    return render(step, WHERE, now=NOW, poll_id="poll-1", snapshot=EXAMPLE_NOW)


def test_the_design_example_message() -> None:
    """The first line is exactly DESIGN §5's example: what, how much, against what, the trend."""
    note = example()
    assert note.body.splitlines()[0] == (
        "[CRITICAL] oneclick-main: available 950.00 DZD is below 1,000.00 DZD "
        "(was 1,420.00 DZD 2 min ago; ~9 h left at the current rate)"
    )
    assert note.title == "[CRITICAL] oneclick-main: available 950.00 DZD is below 1,000.00 DZD"


def test_a_message_says_what_to_do_next_and_where() -> None:
    note = example()
    lines = note.body.splitlines()
    assert lines[1] == "Next: top up the account."
    assert lines[2] == (
        f"Account oneclick-main (oneclickdz), rule threshold, DZD · new · id {note.id}"
    )
    assert note.kind == "firing"
    assert note.severity is Severity.CRITICAL
    assert note.alert_key == "threshold:DZD"
    assert note.tags == ("payments",)
    assert note.poll_id == "poll-1"
    assert note.created_at == NOW


def test_template_fields_are_strings_and_never_floats() -> None:
    """Fields feed per-notifier templates: formatted text, no float repr anywhere."""
    fields = example().fields
    assert all(isinstance(value, str) for value in fields.values())
    assert not any(re.search(r"\d\.\d{6,}|e[-+]\d", value) for value in fields.values())
    assert fields["amount"] == "950.00 DZD"
    assert fields["threshold"] == "1,000.00 DZD"
    assert fields["previous"] == "1,420.00 DZD"
    assert fields["runway"] == "9 h"
    assert fields["severity"] == "critical"
    assert fields["status"] == "firing"
    assert fields["kind"] == "available"
    assert fields["currency"] == "DZD"
    assert fields["tags"] == "payments"


def test_the_id_is_short_and_stable() -> None:
    """The same transition at the same instant has the same id (a duplicate delivery is
    recognisable); another instant, key or kind has another."""
    first, second = example(), example()
    assert first.id == second.id
    assert re.fullmatch(r"[0-9a-f]{10}", first.id)
    assert first.id in first.body
    assert first.fields["id"] == first.id
    assert notification_id(ACCOUNT, "threshold:DZD", "firing", NOW) == first.id
    others = {
        notification_id(ACCOUNT, "threshold:DZD", "firing", NOW + timedelta(seconds=1)),
        notification_id(ACCOUNT, "threshold:EUR", "firing", NOW),
        notification_id(ACCOUNT, "threshold:DZD", "repeat", NOW),
        notification_id("other", "threshold:DZD", "firing", NOW),
    }
    assert first.id not in others
    assert len(others) == 4


def test_resolved_says_how_long_it_lasted() -> None:
    entries = [RuleEntry.model_validate(LEVELS)]
    ids = rule_ids(entries)
    states: dict[str, AlertState] = {}
    fired_at, cleared_at = snapshot(0, 950), snapshot(-(3 * 3600 + 5 * 60), 5600)  # later
    for snap in (fired_at, cleared_at):
        ctx = RuleContext(snap, SnapshotHistory([]), snap.taken_at)
        changed, steps = advance(
            ACCOUNT,
            states,
            evaluate_rules(entries, ids, ctx),
            now=snap.taken_at,
            policy=POLICY,
        )
        states.update({s.key: s for s in changed})
    step = one(steps)
    note = render(step, WHERE, now=cleared_at.taken_at, poll_id="poll-2", snapshot=cleared_at)
    assert note.title == (
        "[RESOLVED] oneclick-main: threshold back to normal after 3 h 5 min; "
        "available now 5,600.00 DZD (was: available 950.00 DZD is below 1,000.00 DZD)"
    )
    assert note.kind == "resolved"
    assert note.fields["duration"] == "3 h 5 min"
    assert note.fields["severity"] == "resolved"
    assert "Next:" not in note.body
    assert " · resolved · " in note.body


@pytest.mark.parametrize(
    ("error", "fired_line", "resolved_line"),
    [
        pytest.param(
            AuthError("HTTP 401"),
            "[CRITICAL] oneclick-main: credentials rejected (HTTP 401); "
            "polling slowed until the config changes",
            "[RESOLVED] oneclick-main: credentials accepted again after 45 min",
            id="auth",
        ),
        pytest.param(
            TransientError("HTTP 503"),
            "[CRITICAL] oneclick-main: unreachable for 3 polls in a row (transient: HTTP 503)",
            "[RESOLVED] oneclick-main: reachable again after 45 min",
            id="unreachable",
        ),
    ],
)
def test_health_messages(error: ProviderError, fired_line: str, resolved_line: str) -> None:
    """Auth and unreachable are about the account; their resolve says for how long."""
    states: dict[str, AlertState] = {}
    notes: list[Notification] = []
    for minutes, result in [
        (0, health_rules.evaluate(error, 3, 3)),
        (45, health_rules.evaluate(None, 0, 3)),
    ]:
        now = NOW + timedelta(minutes=minutes)
        changed, steps = advance(ACCOUNT, states, result, now=now, policy=POLICY)
        states.update({s.key: s for s in changed})
        notes += [render(t, WHERE, now=now, poll_id="p") for t in steps]
    assert [n.body.splitlines()[0] for n in notes] == [fired_line, resolved_line]
    assert "rule " in notes[0].body
    assert ", DZD" not in notes[0].body  # health is about the account, not a currency


def amount_message(currency: str, value: str, level: str) -> str:
    current = snapshot(0, value, currency)
    rules = [{"threshold": {"below": {"critical": level}}}]
    step = one(transitions(rules, [], current))
    return render(step, WHERE, now=NOW, poll_id="p", snapshot=current).title


@pytest.mark.parametrize(
    ("currency", "value", "level", "expected"),
    [
        pytest.param("DZD", "950", "1000", "950.00 DZD is below 1,000.00 DZD", id="dzd-2-places"),
        pytest.param("TND", "150.5", "200", "150.500 TND is below 200.000 TND", id="tnd-3-places"),
        pytest.param(
            "CREDITS", "450", "500", "450 CREDITS is below 500 CREDITS", id="credits-0-places"
        ),
        pytest.param(
            "BTC_BITCOIN",
            "0.00012",
            "0.001",
            "0.00012 BTC_BITCOIN is below 0.001 BTC_BITCOIN",
            id="btc-keeps-significant-places",
        ),
        pytest.param(
            "USDT_TRON", "99.5", "100", "99.50 USDT_TRON is below 100.00 USDT_TRON", id="usdt"
        ),
        pytest.param(
            "DZD",
            "1234567.89",
            "2000000",
            "1,234,567.89 DZD is below 2,000,000.00 DZD",
            id="thousands-separators",
        ),
    ],
)
def test_amounts_use_separators_and_the_currency_places(
    currency: str, value: str, level: str, expected: str
) -> None:
    assert amount_message(currency, value, level) == (
        f"[CRITICAL] oneclick-main: available {expected}"
    )


def test_event_message_has_no_trend_brackets_and_its_own_next_step() -> None:
    """An event's summary already says from what and when: no "(was …)" repeated."""
    rules = [{"change": {"drop": {"percent": 20}}}]
    current = snapshot(0, 700)
    step = one(transitions(rules, [snapshot(300, 1000)], current))
    note = render(step, WHERE, now=NOW, poll_id="p", snapshot=current)
    assert note.body.splitlines()[:2] == [
        "[WARNING] oneclick-main: available dropped by 300.00 DZD (30.0%) to 700.00 DZD "
        "(from 1,000.00 DZD 5 min ago)",
        "Next: check the account's recent transactions.",
    ]
    assert note.kind == "event"
    assert " · event · " in note.body


def test_a_severity_change_says_so() -> None:
    current = snapshot(0, 950)
    warning = AlertState(
        account=ACCOUNT,
        key="threshold:DZD",
        rule="threshold",
        rule_type="threshold",
        currency="DZD",
        kind="state",
        status="firing",
        severity=Severity.WARNING,
        summary="available 3,000.00 DZD is below 5,000.00 DZD",
        consecutive=3,
        started_at=NOW - timedelta(hours=1),
        last_notified_at=NOW - timedelta(hours=1),
        notified_severity=Severity.WARNING,
    )
    step = one(transitions([LEVELS], [], current, {"threshold:DZD": warning}))
    note = render(step, WHERE, now=NOW, poll_id="p", snapshot=current)
    assert note.kind == "escalated"
    assert note.title.startswith("[CRITICAL] ")
    assert " · got worse · " in note.body


def test_system_notification_is_about_balancewatch_itself() -> None:
    note = system_notification(
        "state reset", "the database was corrupt", now=NOW, severity=Severity.WARNING
    )
    assert note.title == "[WARNING] balancewatch: state reset"
    assert note.kind == "system"
    assert note.id in note.body
    assert all(isinstance(v, str) for v in note.fields.values())
