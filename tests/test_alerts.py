"""The alert lifecycle as a specification: conditions + stored states -> states + notifications.

State alerts (threshold, runway, auth, unreachable) notify once when they fire, once per
severity change, every ``repeat`` while they hold, and once when they resolve. Event alerts
(change, held_increase) notify once per event. Unknown is not zero: a poll that evaluated
nothing changes nothing. The returned states are what a store keeps; feeding them back in,
as after a restart, repeats nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from balancewatch.alerts import Policy, Transition, advance
from balancewatch.model import Balance, Condition, Severity, Snapshot
from balancewatch.records import AlertState
from balancewatch.rules import RuleContext, RuleResult, evaluate_rules
from balancewatch.rules.history import SnapshotHistory
from balancewatch.rules.specs import RuleEntry, rule_ids

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "oneclick-main"
KEY = "threshold:DZD"
W, C = Severity.WARNING, Severity.CRITICAL
REPEAT = timedelta(hours=6)
FAILED = RuleResult()
"""A failed poll: the balance rules evaluated nothing."""


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def condition(severity: Severity = W, rule: str = "threshold", currency: str = "DZD") -> Condition:
    return Condition(
        rule=rule,
        rule_type=rule.split("-", maxsplit=1)[0],
        severity=severity,
        summary=f"available is low ({severity.label})",
        currency=currency,
        value=Decimal(950),
        threshold=Decimal(1000),
    )


def holds(*conditions: Condition) -> RuleResult:
    conditions = conditions or (condition(),)
    return RuleResult(list(conditions), frozenset(c.key for c in conditions))


def clears(*keys: str) -> RuleResult:
    return RuleResult([], frozenset(keys or (KEY,)))


def never(rule: str) -> bool:
    return False


def always(rule: str) -> bool:
    return True


@dataclass
class Alerts:
    """``advance`` with a dict standing in for the store: the returned states are kept."""

    policy: Policy = field(default_factory=lambda: Policy(repeat=REPEAT))
    states: dict[str, AlertState] = field(default_factory=dict)

    def poll(
        self, minutes: float, result: RuleResult, silenced: Callable[[str], bool] = never
    ) -> list[Transition]:
        changed, transitions = advance(
            ACCOUNT, self.states, result, now=at(minutes), policy=self.policy, silenced=silenced
        )
        self.states.update({state.key: state for state in changed})
        return transitions

    def kinds(
        self, minutes: float, result: RuleResult, silenced: Callable[[str], bool] = never
    ) -> list[str]:
        return [t.kind for t in self.poll(minutes, result, silenced)]

    def restarted(self) -> Alerts:
        """A new process reading the same stored states."""
        return Alerts(self.policy, dict(self.states))


# ================================================================ state alerts


def test_alert_fires_once_and_stays_quiet_while_it_holds() -> None:
    """One notification when it fires; none while it keeps holding before ``repeat``."""
    alerts = Alerts()
    transitions = alerts.poll(0, holds())
    assert [t.kind for t in transitions] == ["firing"]
    assert transitions[0].state.status == "firing"
    assert transitions[0].condition == condition()
    for minutes in range(5, 6 * 60, 5):
        assert alerts.kinds(minutes, holds()) == [], minutes
    assert alerts.states[KEY].status == "firing"
    assert alerts.states[KEY].started_at == at(0)


def test_repeat_goes_out_exactly_when_repeat_has_elapsed() -> None:
    """A reminder at ``repeat`` after the last notification, not a second earlier."""
    alerts = Alerts()
    assert alerts.kinds(0, holds()) == ["firing"]
    assert alerts.kinds(6 * 60 - 1, holds()) == []
    assert alerts.kinds(6 * 60, holds()) == ["repeat"]
    assert alerts.kinds(6 * 60 + 5, holds()) == []
    assert alerts.kinds(12 * 60 - 1, holds()) == []
    assert alerts.kinds(12 * 60, holds()) == ["repeat"]


def test_repeat_zero_never_reminds() -> None:
    alerts = Alerts(Policy(repeat=timedelta(0)))
    assert alerts.kinds(0, holds()) == ["firing"]
    assert alerts.kinds(60 * 24 * 30, holds()) == []


def test_escalation_and_deescalation_notify_once_each() -> None:
    """A severity change is news in both directions; the same severity again is not."""
    alerts = Alerts()
    assert alerts.kinds(0, holds(condition(W))) == ["firing"]
    assert alerts.kinds(5, holds(condition(C))) == ["escalated"]
    assert alerts.kinds(10, holds(condition(C))) == []
    assert alerts.kinds(15, holds(condition(W))) == ["deescalated"]
    assert alerts.kinds(20, holds(condition(W))) == []
    assert alerts.states[KEY].notified_severity is W


def test_a_severity_change_restarts_the_repeat_clock() -> None:
    alerts = Alerts()
    assert alerts.kinds(0, holds(condition(W))) == ["firing"]
    assert alerts.kinds(60, holds(condition(C))) == ["escalated"]
    assert alerts.kinds(6 * 60, holds(condition(C))) == []
    assert alerts.kinds(7 * 60, holds(condition(C))) == ["repeat"]


def test_resolves_once_and_says_how_long_it_lasted() -> None:
    """One ``resolved`` when the condition clears, with the time since it started firing."""
    alerts = Alerts()
    alerts.poll(0, holds())
    alerts.poll(60, holds(condition(C)))
    transitions = alerts.poll(180, clears())
    assert [t.kind for t in transitions] == ["resolved"]
    resolved = transitions[0]
    assert resolved.lasted == timedelta(hours=3)
    assert resolved.condition is None
    assert resolved.state.status == "resolved"
    assert resolved.state.resolved_at == at(180)
    assert alerts.kinds(185, clears()) == []
    assert alerts.kinds(190, FAILED) == []


def test_fires_again_after_a_resolve_as_a_new_alert() -> None:
    alerts = Alerts()
    alerts.poll(0, holds())
    alerts.poll(10, clears())
    transitions = alerts.poll(20, holds())
    assert [t.kind for t in transitions] == ["firing"]
    assert transitions[0].state.started_at == at(20)
    assert alerts.kinds(30, clears()) == ["resolved"]


def test_for_n_waits_for_n_consecutive_polls() -> None:
    """``for: 3``: pending for two polls, firing (and notified) on the third."""
    alerts = Alerts(Policy(repeat=REPEAT, consecutive={"threshold": 3}))
    assert alerts.kinds(0, holds()) == []
    assert alerts.states[KEY].status == "pending"
    assert alerts.kinds(5, holds()) == []
    assert alerts.states[KEY].consecutive == 2
    transitions = alerts.poll(10, holds())
    assert [t.kind for t in transitions] == ["firing"]
    assert transitions[0].state.started_at == at(10)


def test_for_n_count_restarts_after_a_break() -> None:
    """A poll where the condition does not hold resets the count, and a pending alert that
    never fired resolves silently."""
    alerts = Alerts(Policy(repeat=REPEAT, consecutive={"threshold": 3}))
    assert alerts.kinds(0, holds()) == []
    assert alerts.kinds(5, holds()) == []
    assert alerts.kinds(10, clears()) == []
    assert alerts.kinds(15, holds()) == []
    assert alerts.kinds(20, holds()) == []
    assert alerts.kinds(25, holds()) == ["firing"]


def test_for_n_count_survives_a_failed_poll() -> None:
    """A failed poll is not a break (unknown is not "fine"): the count carries on."""
    alerts = Alerts(Policy(repeat=REPEAT, consecutive={"threshold": 2}))
    assert alerts.kinds(0, holds()) == []
    assert alerts.kinds(5, FAILED) == []
    assert alerts.kinds(10, holds()) == ["firing"]


def test_for_n_applies_per_rule() -> None:
    alerts = Alerts(Policy(repeat=REPEAT, consecutive={"runway": 2}))
    both = holds(condition(rule="threshold"), condition(rule="runway"))
    assert alerts.kinds(0, both) == ["firing"]
    assert [t.state.rule for t in alerts.poll(5, both)] == ["runway"]


@pytest.mark.parametrize(
    "before",
    [
        pytest.param([], id="no-state"),
        pytest.param([(0, "holds")], id="firing"),
        pytest.param([(0, "holds"), (5, "clears")], id="resolved"),
    ],
)
def test_a_poll_that_evaluated_nothing_changes_nothing(before: list[tuple[int, str]]) -> None:
    """A failed poll never fires nor resolves, nor reminds: unknown is not zero."""
    alerts = Alerts()
    for minutes, what in before:
        alerts.poll(minutes, holds() if what == "holds" else clears())
    stored = dict(alerts.states)
    changed, transitions = advance(ACCOUNT, stored, FAILED, now=at(7 * 60), policy=alerts.policy)
    assert (changed, transitions) == ([], [])


def test_a_key_not_evaluated_is_untouched_while_others_resolve() -> None:
    """A currency gone from the snapshot keeps its alert; an evaluated one resolves."""
    alerts = Alerts()
    dzd, eur = condition(currency="DZD"), condition(currency="EUR")
    assert alerts.kinds(0, holds(dzd, eur)) == ["firing", "firing"]
    transitions = alerts.poll(5, clears("threshold:DZD"))
    assert [(t.kind, t.state.key) for t in transitions] == [("resolved", "threshold:DZD")]
    assert alerts.states["threshold:EUR"].status == "firing"


def test_send_resolved_false_resolves_quietly() -> None:
    alerts = Alerts(Policy(repeat=REPEAT, send_resolved=False))
    assert alerts.kinds(0, holds()) == ["firing"]
    assert alerts.kinds(5, clears()) == []
    assert alerts.states[KEY].status == "resolved"


# ---------------------------------------------------------------- silences


def test_silence_suppresses_the_notification_but_tracks_the_alert() -> None:
    alerts = Alerts()
    assert alerts.kinds(0, holds(), always) == []
    state = alerts.states[KEY]
    assert state.status == "firing"
    assert state.started_at == at(0)
    assert state.notified_severity is None


def test_an_alert_still_firing_when_the_silence_ends_notifies_then() -> None:
    alerts = Alerts()
    assert alerts.kinds(0, holds(), always) == []
    assert alerts.kinds(30, holds(), always) == []
    transitions = alerts.poll(60, holds())
    assert [t.kind for t in transitions] == ["firing"]
    assert transitions[0].state.started_at == at(0)  # it has been firing since then
    assert alerts.kinds(65, holds()) == []


def test_a_silenced_resolve_is_not_sent() -> None:
    alerts = Alerts()
    assert alerts.kinds(0, holds()) == ["firing"]
    assert alerts.kinds(5, clears(), always) == []
    assert alerts.states[KEY].status == "resolved"
    assert alerts.kinds(10, clears()) == []


def test_a_fire_never_notified_resolves_silently() -> None:
    """Silenced for its whole life: the resolve is not news either."""
    alerts = Alerts()
    assert alerts.kinds(0, holds(), always) == []
    assert alerts.kinds(60, clears()) == []


def test_silence_holds_back_reminders_and_changes_until_it_ends() -> None:
    alerts = Alerts()
    assert alerts.kinds(0, holds(condition(W))) == ["firing"]
    assert alerts.kinds(5, holds(condition(C)), always) == []
    assert alerts.kinds(7 * 60, holds(condition(C)), always) == []
    assert alerts.kinds(7 * 60 + 5, holds(condition(C))) == ["escalated"]


def test_silence_applies_to_the_rule_it_names() -> None:
    alerts = Alerts()
    both = holds(condition(rule="threshold"), condition(rule="runway"))
    transitions = alerts.poll(0, both, lambda rule: rule == "threshold")
    assert [t.state.rule for t in transitions] == ["runway"]


# ---------------------------------------------------------------- restart


def test_a_restart_repeats_nothing_for_a_firing_alert() -> None:
    """The stored states are the memory: a new process neither re-fires nor re-reminds."""
    alerts = Alerts()
    assert alerts.kinds(0, holds()) == ["firing"]
    alerts = alerts.restarted()
    assert alerts.kinds(5, holds()) == []
    assert alerts.kinds(6 * 60, holds()) == ["repeat"]
    alerts = alerts.restarted()
    assert alerts.kinds(6 * 60 + 5, holds()) == []


def test_a_restart_repeats_nothing_for_a_resolved_alert() -> None:
    alerts = Alerts()
    alerts.poll(0, holds())
    assert alerts.kinds(5, clears()) == ["resolved"]
    alerts = alerts.restarted()
    assert alerts.kinds(10, clears()) == []


# ================================================================ event alerts


def event(reference_minutes: float, rule: str = "change") -> Condition:
    reference = at(reference_minutes)
    return Condition(
        rule=rule,
        rule_type=rule,
        severity=W,
        summary="available dropped",
        currency="DZD",
        value=Decimal(700),
        previous=Decimal(1000),
        previous_at=reference,
        kind="event",
        event_id=reference.isoformat(),
    )


def test_an_event_is_notified_once() -> None:
    alerts = Alerts()
    transitions = alerts.poll(5, holds(event(0)))
    assert [t.kind for t in transitions] == ["event"]
    assert transitions[0].state.event_ref == at(5)


def test_an_event_measured_again_from_the_same_reference_is_not_news() -> None:
    """The same move seen at a later poll (same reference) is the same event."""
    alerts = Alerts()
    assert alerts.kinds(5, holds(event(0))) == ["event"]
    assert alerts.kinds(10, holds(event(0))) == []
    assert alerts.kinds(15, holds(event(3))) == []  # still from before it was reported


def test_a_move_from_the_snapshot_where_the_event_was_detected_is_a_new_event() -> None:
    alerts = Alerts()
    assert alerts.kinds(5, holds(event(0))) == ["event"]
    assert alerts.kinds(10, holds(event(5))) == ["event"]


def test_events_never_resolve_and_ignore_clears() -> None:
    alerts = Alerts()
    assert alerts.kinds(5, holds(event(0))) == ["event"]
    assert alerts.kinds(10, clears("change:DZD")) == []
    assert alerts.kinds(15, FAILED) == []


def test_a_silenced_event_is_recorded_and_never_sent_later() -> None:
    alerts = Alerts()
    assert alerts.kinds(5, holds(event(0)), always) == []
    assert alerts.states["change:DZD"].event_ref == at(5)
    assert alerts.kinds(10, holds(event(0))) == []


# ---------------------------------------------------------------- with the real rules


Number = int | str | Decimal


class Monitor:
    """The poll pipeline in miniature: real rules over snapshots, ``advance``, a dict store.

    With ``event_refs``, the rules are told when each event alert last reported (from the
    stored states), as the poller should do.
    """

    def __init__(
        self, rules: Sequence[dict[str, Any]], policy: Policy | None = None, *, event_refs: bool
    ) -> None:
        self.entries = [RuleEntry.model_validate(spec) for spec in rules]
        self.ids = rule_ids(self.entries)
        self.alerts = Alerts(policy or Policy(repeat=REPEAT))
        self.history: list[Snapshot] = []
        self.event_refs = event_refs

    def poll(self, minutes: float, value: Number | None) -> list[str]:
        """One poll at ``minutes``: ``value`` is the DZD available balance, None = failed."""
        if value is None:
            return self.alerts.kinds(minutes, FAILED)
        snapshot = Snapshot(ACCOUNT, at(minutes), {"DZD": Balance(available=Decimal(value))})
        states = self.alerts.states
        firing = {k: s.severity for k, s in states.items() if s.status == "firing"}
        refs = {k: s.event_ref for k, s in states.items() if s.event_ref and self.event_refs}
        ctx = RuleContext(
            snapshot, SnapshotHistory(list(self.history)), snapshot.taken_at, firing, refs
        )
        result = evaluate_rules(self.entries, self.ids, ctx)
        self.history.append(snapshot)
        return self.alerts.kinds(minutes, result)

    def restarted(self) -> Monitor:
        other = Monitor([], self.alerts.policy, event_refs=self.event_refs)
        other.entries, other.ids = self.entries, self.ids
        other.history = list(self.history)
        other.alerts = self.alerts.restarted()
        return other


both_ways = pytest.mark.parametrize(
    "event_refs", [pytest.param(True, id="rules-told"), pytest.param(False, id="alerts-only")]
)


def test_threshold_clears_only_above_margin() -> None:
    """Critical at 950; holds at the margin; eases to warning past 1,250; resolves past 5,250."""
    monitor = Monitor(
        [{"threshold": {"below": {"warning": 5000, "critical": 1000}, "clear_margin": 250}}],
        event_refs=True,
    )
    assert monitor.poll(0, 950) == ["firing"]
    assert monitor.poll(5, 1100) == []
    assert monitor.poll(10, 1250) == []
    assert monitor.poll(15, 1300) == ["deescalated"]
    assert monitor.poll(20, 5100) == []
    assert monitor.poll(25, 5250) == []
    assert monitor.poll(30, None) == []
    assert monitor.poll(35, 5251) == ["resolved"]
    assert monitor.poll(40, 5100) == []  # inside the margin, but not firing: quiet


def test_a_balance_hovering_at_the_line_does_not_flap() -> None:
    monitor = Monitor([{"threshold": {"below": 1000, "clear_margin": 50}}], event_refs=True)
    notes = [monitor.poll(i * 5, v) for i, v in enumerate([990, 1010, 995, 1020, 999, 1049])]
    assert notes == [["firing"], [], [], [], [], []]
    assert monitor.poll(60, 1051) == ["resolved"]


@both_ways
def test_change_events_are_reported_once(event_refs: bool) -> None:
    """A drop is one event; the same drop seen again from the same reference is not."""
    monitor = Monitor(
        [{"change": {"drop": {"percent": 20}, "within": "1h"}}], event_refs=event_refs
    )
    assert monitor.poll(0, 1000) == []
    assert monitor.poll(5, 700) == ["event"]
    assert monitor.poll(10, 700) == []
    assert monitor.poll(15, 690) == []
    assert monitor.poll(20, None) == []


@both_ways
def test_change_since_previous_poll_reports_a_further_drop(event_refs: bool) -> None:
    """A later drop measured from the snapshot where the last event was detected is new."""
    monitor = Monitor([{"change": {"drop": {"percent": 20}}}], event_refs=event_refs)
    assert monitor.poll(0, 1000) == []
    assert monitor.poll(5, 700) == ["event"]
    assert monitor.poll(10, 500) == ["event"]
    assert monitor.poll(15, 500) == []


def test_change_within_a_window_reports_a_further_drop_after_an_event() -> None:
    """1,000 -> 700 (event) -> 400: the second drop is news even though 1,000 is still in
    the window, because the rules measure from where the last event was detected."""
    monitor = Monitor([{"change": {"drop": {"percent": 20}, "within": "1h"}}], event_refs=True)
    assert monitor.poll(0, 1000) == []
    assert monitor.poll(5, 700) == ["event"]
    assert monitor.poll(10, 400) == ["event"]
    assert monitor.poll(15, 390) == []


@both_ways
def test_a_restart_does_not_report_an_event_again(event_refs: bool) -> None:
    """Re-running the poll that reported an event, with the stored states, reports nothing."""
    monitor = Monitor([{"change": {"drop": {"percent": 20}}}], event_refs=event_refs)
    monitor.poll(0, 1000)
    before = monitor.restarted()
    assert monitor.poll(5, 700) == ["event"]
    # the crash came after the commit: the states are stored, the same poll runs again
    again = monitor.restarted()
    again.history = before.history
    assert again.poll(5, 700) == []
    assert monitor.restarted().poll(10, 700) == []


@both_ways
def test_held_increase_is_one_event_per_increase(event_refs: bool) -> None:
    monitor = Monitor(
        [{"held_increase": {"kind": "escrow", "by": {"amount": 50}, "within": "1d"}}],
        event_refs=event_refs,
    )

    def poll(minutes: float, held: int) -> list[str]:
        snapshot = Snapshot(ACCOUNT, at(minutes), {"TND": Balance(Decimal(1), held=Decimal(held))})
        states = monitor.alerts.states
        refs = {k: s.event_ref for k, s in states.items() if s.event_ref and event_refs}
        ctx = RuleContext(
            snapshot, SnapshotHistory(list(monitor.history)), snapshot.taken_at, {}, refs
        )
        result = evaluate_rules(monitor.entries, monitor.ids, ctx)
        monitor.history.append(snapshot)
        return monitor.alerts.kinds(minutes, result)

    assert poll(0, 100) == []
    assert poll(5, 160) == ["event"]
    assert poll(10, 170) == []
    assert poll(15, 165) == []


# ================================================================ a stateful property


CLEARED = "(condition cleared)"
"""A marker in the machine's log: the end of an episode, notified or not."""


class Lifecycle(RuleBasedStateMachine):
    """Random polls (failed, holding at a random severity, cleared; each under a silence
    or not) and clock steps, checked against a model of DESIGN §5."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.states: dict[str, AlertState] = {}
        self.policy = Policy(repeat=REPEAT)
        self.silenced = False
        self.log: list[tuple[str, datetime, Severity]] = []
        # the model of the current episode (from the first hold to the clear)
        self.consecutive = 0
        self.firing_since: datetime | None = None
        self.last_notified: tuple[datetime, Severity] | None = None

    @initialize(
        needed=st.integers(1, 3),
        send_resolved=st.booleans(),
        repeat=st.sampled_from([timedelta(0), timedelta(minutes=30), timedelta(hours=2)]),
    )
    def configure(self, needed: int, send_resolved: bool, repeat: timedelta) -> None:
        self.policy = Policy(repeat, send_resolved, {"threshold": needed})

    def advance(self, result: RuleResult) -> list[Transition]:
        changed, transitions = advance(
            ACCOUNT,
            self.states,
            result,
            now=self.now,
            policy=self.policy,
            silenced=lambda rule: self.silenced,
        )
        self.states.update({state.key: state for state in changed})
        self.log.extend((t.kind, self.now, t.state.severity) for t in transitions)
        return transitions

    @rule(minutes=st.sampled_from([0, 1, 5, 29, 30, 31, 60, 90, 120, 600]))
    def clock(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @precondition(lambda self: self.last_notified is not None and self.policy.repeat)
    @rule(offset=st.sampled_from([-1, 0, 1]))
    def holds_at_the_repeat_line(self, offset: int) -> None:
        """A poll a minute before, exactly when, or a minute after a reminder is due."""
        assert self.last_notified is not None
        notified_at, severity = self.last_notified
        self.now = max(self.now, notified_at + self.policy.repeat + timedelta(minutes=offset))
        self.condition_holds(severity, silenced=False)

    @rule()
    def failed_poll(self) -> None:
        before = dict(self.states)
        assert self.advance(FAILED) == []
        assert self.states == before

    @rule(severity=st.sampled_from([W, C]), silenced=st.booleans())
    def condition_holds(self, severity: Severity, silenced: bool) -> None:
        self.silenced = silenced
        self.consecutive += 1
        if self.firing_since is None and self.consecutive >= self.policy.needed("threshold"):
            self.firing_since = self.now
        expected: list[str] = []
        if self.firing_since is not None and not self.silenced:
            last = self.last_notified
            if last is None:
                expected = ["firing"]
            elif severity > last[1]:
                expected = ["escalated"]
            elif severity < last[1]:
                expected = ["deescalated"]
            elif self.policy.repeat > timedelta(0) and self.now - last[0] >= self.policy.repeat:
                expected = ["repeat"]
        if expected:
            self.last_notified = (self.now, severity)
        assert [t.kind for t in self.advance(holds(condition(severity)))] == expected

    @rule(silenced=st.booleans())
    def condition_clears(self, silenced: bool) -> None:
        self.silenced = silenced
        transitions = self.advance(clears())
        told = self.last_notified is not None
        if told and self.policy.send_resolved and not self.silenced:
            assert [t.kind for t in transitions] == ["resolved"]
            assert self.firing_since is not None
            assert transitions[0].lasted == self.now - self.firing_since
        else:
            assert transitions == []
        self.log.append((CLEARED, self.now, W))
        self.consecutive, self.firing_since, self.last_notified = 0, None, None

    @invariant()
    def notifications_are_never_duplicates(self) -> None:
        """Between two notifications of one firing alert: a severity change, an elapsed
        repeat, or a clear. Never a resolve without a notified fire before it."""
        last: tuple[str, datetime, Severity] | None = None
        for note in self.log:
            kind, when, severity = note
            if kind == CLEARED:
                last = None
            elif kind == "resolved":
                assert last is not None, "resolved without a notified fire"
                last = None
            elif last is None:
                assert kind == "firing", note
                last = note
            else:
                assert kind != "firing", (last, note)
                changed = severity != last[2]
                due = when - last[1] >= self.policy.repeat > timedelta(0)
                assert changed or due, (last, note)
                last = note

    @invariant()
    def firing_state_matches_the_model(self) -> None:
        state = self.states.get(KEY)
        if self.firing_since is not None:
            assert state is not None
            assert state.status == "firing"
            assert state.started_at == self.firing_since
        elif state is not None:
            assert state.status in ("pending", "resolved")


TestLifecycle = Lifecycle.TestCase
TestLifecycle.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
