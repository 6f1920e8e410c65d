"""Acknowledged alerts send no reminders, until they resolve or their severity changes.

``advance`` is given the acknowledgements as a predicate (the daemon's cache holds them);
an :class:`Acknowledgement` holds for one episode at one severity, and only while nothing
has been notified about the alert since it was made. Every instant is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

from balancewatch.alerts import Policy, advance
from balancewatch.records import Acknowledgement, AlertState
from balancewatch.rules import RuleResult
from tests.test_alerts import ACCOUNT, KEY, C, W, at, clears, condition, holds

REPEAT = timedelta(minutes=30)


@dataclass
class Acked:
    """``advance`` over a dict of states, with the acknowledgements made so far."""

    states: dict[str, AlertState] = field(default_factory=dict)
    acks: list[Acknowledgement] = field(default_factory=list)

    def kinds(self, minutes: float, result: RuleResult) -> list[str]:
        changed, transitions = advance(
            ACCOUNT,
            self.states,
            result,
            now=at(minutes),
            policy=Policy(repeat=REPEAT),
            acked=lambda state: any(a.holds(state) for a in self.acks),
        )
        self.states.update({s.key: s for s in changed})
        return [t.kind for t in transitions]

    def ack(self, minutes: float, by: str = "ana") -> Acknowledgement:
        state = self.states[KEY]
        assert state.started_at is not None
        made = Acknowledgement(ACCOUNT, KEY, state.started_at, state.severity, at(minutes), by)
        self.acks.append(made)
        return made


def test_an_acknowledged_alert_sends_no_reminders_while_it_keeps_firing() -> None:
    """Reminders every 30 min until acknowledged at minute 40; none for the next day."""
    alerts = Acked()
    assert alerts.kinds(0, holds()) == ["firing"]
    assert alerts.kinds(30, holds()) == ["repeat"]
    alerts.ack(40)
    for minutes in range(45, 24 * 60, 15):
        assert alerts.kinds(minutes, holds()) == [], minutes
    assert alerts.states[KEY].status == "firing"


def test_it_still_resolves_and_the_next_episode_reminds_again() -> None:
    """The resolve goes out; the alert firing again is a new episode the old ack misses."""
    alerts = Acked()
    alerts.kinds(0, holds())
    alerts.ack(5)
    assert alerts.kinds(60, holds()) == []
    assert alerts.kinds(70, clears()) == ["resolved"]
    assert alerts.kinds(80, holds()) == ["firing"]
    assert alerts.kinds(110, holds()) == ["repeat"]


def test_an_escalation_goes_out_and_clears_the_acknowledgement() -> None:
    """Acknowledged at warning; critical is notified, reminders resume at critical, and
    de-escalating back to warning does not bring the old acknowledgement back."""
    alerts = Acked()
    alerts.kinds(0, holds(condition(W)))
    alerts.ack(5)
    assert alerts.kinds(35, holds(condition(W))) == []
    assert alerts.kinds(40, holds(condition(C))) == ["escalated"]
    assert alerts.kinds(70, holds(condition(C))) == ["repeat"]
    assert alerts.kinds(75, holds(condition(W))) == ["deescalated"]
    assert alerts.kinds(105, holds(condition(W))) == ["repeat"]


def test_acknowledging_again_after_an_escalation_quiets_the_new_severity() -> None:
    """The escalation's own link acknowledges the episode at its new severity."""
    alerts = Acked()
    alerts.kinds(0, holds(condition(W)))
    alerts.ack(5)
    alerts.kinds(40, holds(condition(C)))
    alerts.ack(45, by="bo")
    assert alerts.kinds(70, holds(condition(C))) == []
    assert alerts.kinds(130, holds(condition(C))) == []


def test_an_acknowledgement_holds_for_its_own_alert_episode_and_severity_only() -> None:
    """``holds`` is false for another key, another episode, another severity, a resolved
    state, or a state notified after the acknowledgement."""
    firing = AlertState(
        ACCOUNT, KEY, "threshold", "threshold", "DZD", "state", "firing", W, "low",
        started_at=at(0), last_notified_at=at(0), notified_severity=W,
    )  # fmt: skip
    ack = Acknowledgement(ACCOUNT, KEY, at(0), W, at(10), "ana")
    assert ack.holds(firing)
    assert ack.holds(replace(firing, last_notified_at=at(10)))
    assert not ack.holds(replace(firing, key="threshold:USD"))
    assert not ack.holds(replace(firing, account="other"))
    assert not ack.holds(replace(firing, started_at=at(1)))
    assert not ack.holds(replace(firing, severity=C))
    assert not ack.holds(replace(firing, status="resolved"))
    assert not ack.holds(replace(firing, last_notified_at=at(11)))
