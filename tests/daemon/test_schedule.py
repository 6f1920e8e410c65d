"""SlotTrigger: one run per interval in the account's own slot, spread over accounts."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from balancewatch.daemon.schedule import SlotTrigger, first_run_spread, next_slot, phase

START = datetime(2026, 11, 23, 15, 0, 0, 123456, tzinfo=UTC)


def runs(trigger: SlotTrigger, count: int) -> list[datetime]:
    """The trigger's fire times, each computed from the previous as APScheduler does."""
    times: list[datetime] = []
    previous: datetime | None = None
    for _ in range(count):
        nxt = trigger.get_next_fire_time(previous, previous or START)
        assert nxt is not None
        times.append(nxt)
        previous = nxt
    return times


def slot_index(when: datetime, trigger: SlotTrigger) -> int:
    """Which slot a run belongs to: the last slot at or before it."""
    return int((when.timestamp() - trigger.offset) // trigger.interval)


def test_the_first_run_is_the_quick_one_then_a_slot_three_quarters_of_an_interval_later() -> None:
    first = START + timedelta(seconds=2)
    trigger = SlotTrigger(interval=60, jitter=0, offset=phase("acme"), first=first)
    times = runs(trigger, 3)
    assert times[0] == first
    gap = (times[1] - first).total_seconds()
    assert 45 <= gap < 105
    assert (times[1].timestamp() - trigger.offset) % 60 == pytest.approx(0, abs=1e-6)
    assert (times[2] - times[1]).total_seconds() == pytest.approx(60)


@pytest.mark.parametrize("jitter", [0.0, 6.0, 30.0, 59.0, 60.0, 600.0])
def test_one_run_in_each_slot_whatever_the_jitter(jitter: float) -> None:
    random.seed(7)
    trigger = SlotTrigger(interval=60, jitter=jitter, offset=0.37, first=START)
    times = runs(trigger, 2000)[1:]
    slots = [slot_index(t, trigger) for t in times]
    assert slots == list(range(slots[0], slots[0] + len(slots)))  # none skipped, none twice
    for when, slot in zip(times, slots, strict=True):
        past_slot = when.timestamp() - (trigger.offset + slot * 60)
        assert 0 <= past_slot <= min(jitter, 60) + 1e-6


def test_jitter_does_not_accumulate() -> None:
    """IntervalTrigger counts from the jittered run, so runs drift; slots do not."""
    random.seed(3)
    trigger = SlotTrigger(interval=60, jitter=6, offset=0.5, first=START)
    last = runs(trigger, 1001)[-1]
    base = trigger.offset + slot_index(last, trigger) * 60
    assert 0 <= last.timestamp() - base <= 6


def test_slots_do_not_depend_on_when_the_daemon_started() -> None:
    """A restart or a reload keeps each account in its slot."""
    a = SlotTrigger(interval=300, jitter=0, offset=phase("shop-7"), first=START)
    b = SlotTrigger(
        interval=300, jitter=0, offset=phase("shop-7"), first=START + timedelta(hours=5, seconds=17)
    )
    in_interval_a = [t.timestamp() % 300 for t in runs(a, 4)[1:]]
    in_interval_b = [t.timestamp() % 300 for t in runs(b, 4)[1:]]
    assert in_interval_a == pytest.approx([phase("shop-7") * 300] * 3)
    assert in_interval_b == pytest.approx(in_interval_a)


def test_many_accounts_spread_evenly_over_the_interval() -> None:
    """10,000 accounts at one minute: each second of the minute gets its share, ~167."""
    per_second = Counter(int(phase(f"acct-{i:05d}") * 60) for i in range(10_000))
    assert len(per_second) == 60
    assert min(per_second.values()) >= 110
    assert max(per_second.values()) <= 230


def test_a_late_run_still_lands_in_the_next_slot() -> None:
    """APScheduler passes the scheduled time, not when the run really started."""
    trigger = SlotTrigger(interval=60, jitter=0, offset=0.25, first=START)
    scheduled = runs(trigger, 2)[1]
    late_now = scheduled + timedelta(seconds=45)
    nxt = trigger.get_next_fire_time(scheduled, late_now)
    assert nxt is not None
    assert (nxt - scheduled).total_seconds() == pytest.approx(60)


def test_first_runs_come_quickly_but_never_all_at_once() -> None:
    minute = timedelta(minutes=1)
    assert first_run_spread(4, minute) == timedelta(milliseconds=20)
    assert first_run_spread(10_000, minute) == timedelta(seconds=50)
    assert first_run_spread(100_000, minute) == minute


def test_a_restarted_tick_starts_at_the_accounts_next_slot_in_step_with_every_daemon() -> None:
    """``next_slot`` (where a daemon takes an account back after another left) is the
    first slot after now: on the same grid as SlotTrigger's, never now or in the past."""
    interval = timedelta(seconds=60)
    for seconds in (0.0, 0.001, 17.5, 59.999, 3600.0):
        now = START + timedelta(seconds=seconds)
        slot = next_slot("acme", interval, now)
        assert now < slot <= now + interval
        offset = phase("acme") * 60
        assert (slot.timestamp() - offset) % 60 == pytest.approx(0, abs=1e-6)
    trigger = SlotTrigger(interval=60, jitter=0, offset=phase("acme"), first=slot)
    after = runs(trigger, 2)[1]
    assert (after - slot).total_seconds() == pytest.approx(60)  # then one slot per interval
