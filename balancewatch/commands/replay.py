"""``balancewatch replay``: run a (possibly edited) config's rules over recorded history.

Each stored snapshot is fed, in order, through the very pipeline the daemon runs
(:func:`poller.decide`: rules, lifecycle, message text) with alert state kept in memory, so
the output is what *would* have been sent and when. Nothing is written and nothing is sent.
Polls that failed were never stored, so replay shows balance alerts only; silences are
ignored (the question is what the rules say).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from balancewatch.model import Snapshot
from balancewatch.poll.decide import decide, recent_history
from balancewatch.poll.plan import AccountPlan
from balancewatch.records import AlertState, Health, Notification


@dataclass(frozen=True, slots=True)
class Replayed:
    at: datetime
    notification: Notification


def replay(
    plan: AccountPlan, snapshots: Sequence[Snapshot], lookback: Sequence[Snapshot] = ()
) -> Iterator[Replayed]:
    """Yield every notification the rules would have produced over ``snapshots``.

    ``lookback`` is history before the replayed range, used only as rule history so that
    the first replayed polls can compare against something.
    """
    states: dict[str, AlertState] = {}
    health: Health | None = None
    history: list[Snapshot] = list(lookback)
    for index, snapshot in enumerate(snapshots):
        now = snapshot.taken_at
        recent = recent_history(history, plan.history_window, now)
        record, _ = decide(
            plan,
            snapshot,
            previous_health=health,
            history=recent,
            states=states,
            now=now,
            poll_id=f"replay-{index}",
        )
        health = record.health
        states.update({s.key: s for s in record.alerts})
        history = [*recent, snapshot]
        for note in record.notifications:
            yield Replayed(now, note)


def format_replay(items: Sequence[Replayed], plan: AccountPlan, polls: int) -> str:
    lines = [f"{item.at:%Y-%m-%d %H:%M:%S} UTC  {item.notification.title}" for item in items]
    tail = f"{len(items)} notification(s) from {polls} recorded poll(s) of {plan.name}"
    return "\n".join([*lines, tail]) if lines else f"nothing would have fired ({tail})"
