"""From raw records to figures: the daemon's JSON log, percentiles, notification latency,
the state database's rows, and the top frames of a py-spy profile."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bench.receiver import Arrival

ACCOUNT_NAME = re.compile(r"\bacct-[a-z]+-\d{5}\b")


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
    }


# ---------------------------------------------------------------- the daemon's log


@dataclass(frozen=True)
class Poll:
    at: float
    account: str
    ok: bool
    ms: float
    late_ms: float | None
    notifications: int


@dataclass
class DaemonLog:
    polls: list[Poll] = field(default_factory=list)
    delivered: list[float] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)
    """Every event name (APScheduler's warnings by their first words), counted."""
    errors: Counter[str] = field(default_factory=Counter)
    """Failed polls by error kind."""
    other_lines: int = 0


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def read_daemon_log(path: Path) -> DaemonLog:
    log = DaemonLog()
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                log.other_lines += 1
                continue
            name = str(event.get("event", ""))
            if name == "poll":
                poll = Poll(
                    epoch(event["timestamp"]),
                    event["account"],
                    bool(event["ok"]),
                    float(event["ms"]),
                    event.get("late_ms"),
                    int(event.get("notifications", 0)),
                )
                log.polls.append(poll)
                if not poll.ok:
                    log.errors[str(event.get("error_kind"))] += 1
            elif name == "delivered":
                log.delivered.append(epoch(event["timestamp"]))
            # APScheduler's "Run time of job ... was missed by" / "... skipped: maximum ..."
            log.events[_event_key(name, event)] += 1
    return log


def _event_key(name: str, event: dict[str, object]) -> str:
    if "was missed by" in name:
        return "apscheduler: run missed (misfire grace exceeded)"
    if "maximum number of running instances" in name:
        return "apscheduler: run skipped (previous still running)"
    if name.startswith("Job ") and "raised an exception" in name:
        lines = str(event.get("exception", "")).strip().splitlines()
        return f"apscheduler: job raised {lines[-1][:60] if lines else 'an exception'}"
    return re.sub(r'"[^"]*"', '"…"', name)[:60]


def in_window(times: Iterable[float], start: float, end: float) -> int:
    return sum(1 for t in times if start <= t < end)


def notification_latency(
    polls: Sequence[Poll], arrivals: Sequence[Arrival], start: float, end: float
) -> tuple[list[float], int]:
    """Seconds from each ``poll`` event that wrote notifications (in the window) to the
    first message naming its account that arrived after it; and how many never arrived."""
    by_account: dict[str, list[float]] = {}
    for arrival in arrivals:
        for name in set(ACCOUNT_NAME.findall(f"{arrival.title}\n{arrival.message}")):
            by_account.setdefault(name, []).append(arrival.at)
    latencies: list[float] = []
    missing = 0
    for poll in polls:
        if poll.notifications <= 0 or not start <= poll.at < end:
            continue
        later = [t for t in by_account.get(poll.account, []) if t >= poll.at - 0.001]
        if later:
            latencies.append(min(later) - poll.at)
        else:
            missing += 1
    return latencies, missing


# ---------------------------------------------------------------- state


def row_counts(db: Path) -> dict[str, int]:
    """Rows per table of the daemon's state file (read-only, after the daemon stopped)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not row[0].startswith("sqlite_")
        ]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        conn.close()


# ---------------------------------------------------------------- py-spy


def _frame(frame: str) -> str:
    """``fn (path/to/module.py:123)`` -> ``fn (module.py)``, folding line numbers."""
    match = re.match(r"(.*) \((.*?):\d+\)$", frame)
    if not match:
        return frame
    function, path = match.groups()
    parts = path.split("/")
    for anchor in ("site-packages", "balancewatch", "lib"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + 1 :]
            break
    return f"{function} ({'/'.join(parts[-3:])})"


IDLE_LEAVES = frozenset(
    {
        "EpollSelector.select (selectors.py)",
        "Condition.wait (threading.py)",
        "Event.wait (threading.py)",
        "_worker (concurrent/futures/thread.py)",
        "Thread.join (threading.py)",
    }
)
"""Frames a thread waits in (a selector, a queue, a lock): py-spy counts such a thread as
busy now and then; these samples are left out and counted apart."""


PLUMBING = (
    "<module>",
    "_run_module_as_main",
    "_run_code",
    "main (cli.py)",
    "cmd_run (cli.py)",
    "run (daemon.py)",
    "run (asyncio/runners.py)",
    "Runner.run",
    "BaseEventLoop.run_",
    "BaseEventLoop._run_once",
    "Thread._bootstrap",
    "Thread.run (threading.py)",
    "_worker (concurrent",
    "_WorkItem.run",
)
"""Frames every stack of a thread goes through: left out of the inclusive tables."""


def _complete(frames: list[str]) -> bool:
    """Whether a stack reaches its thread's root (py-spy may read a running thread's
    frames half-way: such a stack has a true top, but no callers to credit)."""
    first = frames[0] if frames else ""
    return first.startswith(("<module>", "_run_module_as_main", "Thread._bootstrap "))


def profile_summary(raw: Path, top: int = 25) -> dict[str, object]:
    """Self and inclusive sample shares per function, and per thread, of a py-spy
    ``--format raw --threads`` file (``thread (tid);frame;...;frame count`` per line).
    Inclusive shares count complete stacks only (see :func:`_complete`)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    complete_by_thread: Counter[str] = Counter()
    per_thread: dict[str, Counter[str]] = {}
    total = idle = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread, frames = frames[0], [_frame(f) for f in frames[1:]]
        if frames and frames[-1] in IDLE_LEAVES:
            idle += count
            continue
        total += count
        threads[thread] += count
        if frames:
            own[frames[-1]] += count
        if not _complete(frames):
            continue
        complete_by_thread[thread] += count
        mine = per_thread.setdefault(thread, Counter())
        for name in dict.fromkeys(frames):  # each frame once per stack, in a stable order
            if not name.startswith(PLUMBING):
                inclusive[name] += count
                mine[name] += count

    complete = sum(complete_by_thread.values())

    def shares(counter: Counter[str], of: int = total) -> list[list[object]]:
        return [[name, round(100 * n / max(of, 1), 1)] for name, n in counter.most_common(top)]

    busiest = [t for t, n in threads.most_common(2) if n >= 0.1 * total]
    return {
        "samples": total,
        "idle_samples_dropped": idle,
        "self_percent": shares(own),
        "complete_stacks": complete,
        "inclusive_percent": shares(inclusive, complete),
        "threads_percent": shares(threads),
        "thread_inclusive_percent": {
            thread: [
                [name, round(100 * n / complete_by_thread[thread], 1)]
                for name, n in per_thread[thread].most_common(top + 15)
            ]
            for thread in busiest
            if complete_by_thread[thread]
        },
    }
