"""The kill matrix of RELIABILITY.md: a daemon SIGKILLed at any step loses no notification.

Each case runs ``tests/crashdriver.py`` as a real process on its own SQLite file: it plays a
scenario (fire, escalate, resolve, event) through ``poller.decide``, ``commit_poll`` and
``deliver_due`` into a real local ``json://`` receiver, and SIGKILLs itself at one step of
the last poll. It is then started again without a crash point, like a restarted daemon.
The receiver counts the messages naming each notification id that the store holds.

The outbox promise: 0 notifications lost at every step; a duplicate only when the kill
falls between the send and its mark, and then at most one per kill.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from balancewatch.state.sqlite import SqliteStore
from tests.crashdriver import EXPECTED, SCENARIOS, STEPS, T0
from tests.receivers import JsonReceiver

DRIVER = Path(__file__).resolve().parents[1] / "crashdriver.py"
ROOT = DRIVER.parent.parent


@dataclass(frozen=True)
class Outcome:
    scenario: str
    step: str
    crash_rc: int
    restart_rc: int
    notifications: int
    lost: int
    duplicated: int


@pytest.fixture(scope="module")
def receiver() -> Iterator[JsonReceiver]:
    with JsonReceiver() as running:
        yield running


def run_driver(db: Path, url: str, account: str, scenario: str, crash: str | None) -> int:
    args = [sys.executable, str(DRIVER), str(db), url, account, scenario]
    args += ["--crash-at", crash] if crash else []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(args, env=env, capture_output=True, timeout=60, check=False)
    return done.returncode


def kill_and_restart(tmp: Path, receiver: JsonReceiver, scenario: str, step: str) -> Outcome:
    """One cell of the matrix: crash at ``step``, restart, count what the receiver got."""
    account = f"{scenario}-{step}".replace("_", "-")
    db, path = tmp / f"{account}.db", f"/{account}"
    crash_rc = run_driver(db, receiver.url(path), account, scenario, step)
    restart_rc = run_driver(db, receiver.url(path), account, scenario, None)
    end = T0 + timedelta(days=1)
    with SqliteStore.open(db, now=end) as store:
        ids = [n.id for n in store.recent_notifications(limit=100)]
        pending = store.outbox_depth()
    assert pending == 0, f"{account}: {pending} deliveries still in the outbox"
    counts = receiver.id_counts(ids, path)
    return Outcome(
        scenario,
        step,
        crash_rc,
        restart_rc,
        notifications=len(ids),
        lost=sum(1 for nid in ids if counts[nid] == 0),
        duplicated=sum(max(counts[nid] - 1, 0) for nid in ids),
    )


def table(outcomes: list[Outcome]) -> str:
    lines = [f"{'kill point':<15}{'kills':>6}{'lost':>6}{'duplicated':>12}"]
    for step in STEPS:
        cells = [o for o in outcomes if o.step == step]
        lost = sum(o.lost for o in cells)
        duplicated = sum(o.duplicated for o in cells)
        lines.append(f"{step:<15}{len(cells):>6}{lost:>6}{duplicated:>12}")
    return "\n".join(lines)


def test_outbox_loses_nothing_when_killed_at_any_step(
    tmp_path: Path, receiver: JsonReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL before commit, after commit, after send and after mark, in four scenarios:
    nothing is lost, nothing is notified twice by the restart's own polls, and the only
    duplicates are one per kill in the send->mark window."""
    cells = [(scenario, step) for scenario in SCENARIOS for step in STEPS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda c: kill_and_restart(tmp_path, receiver, *c), cells))
    with capsys.disabled():
        print(f"\noutbox kill matrix ({len(SCENARIOS)} scenarios x {len(STEPS)} steps):")
        print(table(outcomes))

    for o in outcomes:
        assert o.crash_rc == -9, f"{o.scenario}/{o.step}: driver was not killed ({o.crash_rc})"
        assert o.restart_rc == 0, f"{o.scenario}/{o.step}: restart failed ({o.restart_rc})"
        assert o.notifications == EXPECTED[o.scenario], f"{o} re-created or missed an alert"
        assert o.lost == 0, f"{o}: notification lost"
        allowed = 1 if o.step == "after_send" else 0
        assert o.duplicated <= allowed, f"{o}: too many duplicates"
    after_send = [o for o in outcomes if o.step == "after_send"]
    assert sum(o.duplicated for o in after_send) == len(after_send), (
        "a kill between send and mark must cost exactly one duplicate (the restart resends)"
    )
