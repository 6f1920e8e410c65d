"""The alert lifecycle: conditions + stored state -> new state + transitions to notify.

State alerts (threshold, runway, auth, unreachable)::

    (none) --holds--> pending --holds `for` polls--> firing --clears--> resolved
                                                      |  severity changes -> escalated / deescalated
                                                      |  every `repeat`   -> repeat

One notification when it fires, one per severity change, a reminder every ``repeat``, one
``resolved`` when it clears (only if the firing was notified, and ``send_resolved``).

Event alerts (change, held_increase) notify once per event. An event is identified by its
reference instant; an event measured from a point earlier than the poll that reported the
last one is the same event seen again, and is not reported twice (the state is in the store, so a
restart included).

Silences suppress notifications, not tracking: a silenced firing alert is stored as firing
but *not notified*, so when the silence ends and the problem is still there, the firing
notification goes out then. A silenced event is recorded and never sent later.

Acknowledgements quiet reminders only: an acknowledged firing alert (``acked``, see
:meth:`balancewatch.records.Acknowledgement.holds`) sends no ``repeat``, while a severity
change still goes out (and ends the acknowledgement), as does ``resolved``.

Pure: ``now`` is passed in; the caller stores the returned states in the poll's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from balancewatch.model import Condition
from balancewatch.records import AlertState, NotificationKind
from balancewatch.rules.base import RuleResult


@dataclass(frozen=True, slots=True)
class Policy:
    """An account's effective alerting settings."""

    repeat: timedelta
    send_resolved: bool = True
    consecutive: Mapping[str, int] | None = None
    """``for: N`` per rule id (default 1)."""

    def needed(self, rule: str) -> int:
        return (self.consecutive or {}).get(rule, 1)


@dataclass(frozen=True, slots=True)
class Transition:
    """A lifecycle step that deserves a notification."""

    kind: NotificationKind
    state: AlertState
    condition: Condition | None = None
    lasted: timedelta | None = None


def advance(
    account: str,
    states: Mapping[str, AlertState],
    result: RuleResult,
    *,
    now: datetime,
    policy: Policy,
    silenced: Callable[[str], bool] = lambda rule: False,
    acked: Callable[[AlertState], bool] = lambda state: False,
) -> tuple[list[AlertState], list[Transition]]:
    """Apply one poll's verdict to the stored alert states of one account."""
    changed: list[AlertState] = []
    transitions: list[Transition] = []
    seen: set[str] = set()
    for condition in result.conditions:
        seen.add(condition.key)
        previous = states.get(condition.key)
        if condition.kind == "event":
            step = _event(account, previous, condition, now, silenced(condition.rule))
        else:
            quiet = silenced(condition.rule)
            step = _holds(account, previous, condition, now, policy, quiet, acked)
        if step is not None:
            state, transition = step
            changed.append(state)
            if transition is not None:
                transitions.append(transition)
    for key in sorted(result.evaluated - seen):
        previous = states.get(key)
        if previous is None or previous.kind == "event" or previous.status == "resolved":
            continue
        state, transition = _clears(previous, now, policy, silenced(previous.rule))
        changed.append(state)
        if transition is not None:
            transitions.append(transition)
    return changed, transitions


def _fresh(account: str, condition: Condition, now: datetime) -> AlertState:
    return AlertState(
        account=account,
        key=condition.key,
        rule=condition.rule,
        rule_type=condition.rule_type,
        currency=condition.currency,
        kind=condition.kind,
        status="pending",
        severity=condition.severity,
        summary=condition.summary,
        updated_at=now,
    )


def _holds(
    account: str,
    previous: AlertState | None,
    condition: Condition,
    now: datetime,
    policy: Policy,
    silenced: bool,
    acked: Callable[[AlertState], bool],
) -> tuple[AlertState, Transition | None]:
    base = previous if previous is not None and previous.status != "resolved" else None
    state = replace(
        base or _fresh(account, condition, now),
        severity=condition.severity,
        summary=condition.summary,
        value=condition.value,
        threshold=condition.threshold,
        consecutive=(base.consecutive if base else 0) + 1,
        updated_at=now,
        resolved_at=None,
    )
    if state.status == "pending" and state.consecutive >= policy.needed(condition.rule):
        state = replace(state, status="firing", started_at=now)
    if state.status != "firing":
        return state, None
    kind = _notification_kind(state, now, policy)
    if kind is None or silenced or (kind == "repeat" and acked(state)):
        return state, None
    state = replace(state, last_notified_at=now, notified_severity=state.severity)
    return state, Transition(kind, state, condition)


def _notification_kind(state: AlertState, now: datetime, policy: Policy) -> NotificationKind | None:
    if state.notified_severity is None:
        return "firing"
    if state.severity > state.notified_severity:
        return "escalated"
    if state.severity < state.notified_severity:
        return "deescalated"
    due = state.last_notified_at is None or now - state.last_notified_at >= policy.repeat
    return "repeat" if due and policy.repeat > timedelta(0) else None


def _clears(
    previous: AlertState, now: datetime, policy: Policy, silenced: bool
) -> tuple[AlertState, Transition | None]:
    state = replace(previous, status="resolved", consecutive=0, resolved_at=now, updated_at=now)
    was_told = previous.status == "firing" and previous.notified_severity is not None
    if not was_told or not policy.send_resolved or silenced:
        return state, None
    lasted = now - previous.started_at if previous.started_at else None
    return state, Transition("resolved", state, None, lasted)


def _event(
    account: str,
    previous: AlertState | None,
    condition: Condition,
    now: datetime,
    silenced: bool,
) -> tuple[AlertState, Transition | None] | None:
    reference = condition.previous_at or now
    if previous is not None and previous.event_ref is not None and reference < previous.event_ref:
        return None  # the same move, measured again from a point before it was reported
    state = replace(
        previous or _fresh(account, condition, now),
        status="resolved",
        severity=condition.severity,
        summary=condition.summary,
        value=condition.value,
        threshold=condition.threshold,
        # The next event must start after this one was seen, not merely after its reference.
        event_ref=now,
        started_at=now,
        resolved_at=now,
        updated_at=now,
    )
    if silenced:
        return state, None
    state = replace(state, last_notified_at=now, notified_severity=state.severity)
    return state, Transition("event", state, condition)
