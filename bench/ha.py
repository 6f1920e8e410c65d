"""High availability's figures (issue 13's goals, written into docs/benchmarks.md by hand).

CPU per poll of several daemons sharing 10,000 accounts on one PostgreSQL, against one
daemon on SQLite, on the same simulator and config (``bench.simhost``, 1-minute interval,
10% jitter)::

    .venv/bin/python -m bench.ha cpu --accounts 10000 --daemons 2 --minutes 1
    .venv/bin/python -m bench.ha cpu --accounts 10000 --sqlite --minutes 1
    .venv/bin/python -m bench.ha cpu --accounts 10000 --daemons 2 --what-if claim-every-poll

counts the CPU of the daemons and of every process of the throwaway PostgreSQL server
(``tests/pgcluster.py``: the postmaster and its children, from ``/proc``), the polls (the
simulator's requests) and the database's transactions (``pg_stat_database``: a claim is
one, a fenced group commit one of two round trips, BEGIN and COMMIT pipelined).

A soak: three daemons, one killed (SIGKILL) and restarted every minute, balances crossing
a threshold and back all along::

    .venv/bin/python -m bench.ha soak --accounts 60 --daemons 3 --minutes 10 --interval 5

counts polls done twice (two requests to one account less than 0.4 interval apart, at
the simulator: a daemon's own polls are half an interval apart at least), notifications lost (a crossing no message announced) or sent twice, and how
long each killed daemon's accounts waited for their next poll. Prints JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from balancewatch.sim.server import SimServer
from bench import phases, proc
from bench.phases import PYTHON, SimHost, clean_env, stop
from bench.receiver import Receiver
from bench.workload import daemon_config
from tests.pgcluster import PgCluster, start_cluster

ID = re.compile(r"\b[0-9a-f]{10}\b")
"""A notification id, as every message names its own."""


def postgres_cpu(cluster: PgCluster) -> float:
    """CPU seconds of the server: the postmaster and every process it started."""
    master = int((cluster.data / "postmaster.pid").read_text().split()[0])
    total = proc.cpu_seconds(master)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            total += proc.cpu_seconds_of(stat)
    return total


def transactions(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database"
            " WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def start_daemons(config: Path, count: int, tmp: Path, env: dict[str, str]) -> list[Any]:
    daemons = []
    for index in range(count):
        with (tmp / f"daemon-{index}.log").open("ab") as log:
            daemons.append(
                subprocess.Popen(
                    # through bench.unlimited: 10,000 accounts exceed the YAML value limit
                    [PYTHON, "-m", "bench.unlimited", "run", "-c", str(config)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                )
            )
    return daemons


def cpu(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-ha-"))
    env = clean_env()
    if args.what_if:
        env["BENCH_WHATIF"] = args.what_if
    sim = SimHost(args.accounts, tmp / "accounts.json", env)
    receiver = Receiver().start()
    cluster = None if args.sqlite else start_cluster()
    url = cluster.new_database() if cluster else None
    text = daemon_config(
        sim.accounts,
        db=tmp / "state.db",
        receiver_url=receiver.url,
        interval=args.interval,
        timeout=min(10.0, args.interval * 0.8),
    )
    if url:
        text = text.replace(f"  path: {tmp / 'state.db'}", f"  url: {url}")
    config = tmp / "daemon.yaml"
    config.write_text(text)
    daemons = start_daemons(config, 1 if args.sqlite else args.daemons, tmp, env)
    try:
        # First runs are spread over an interval; a daemon that joins running ones (the
        # second, here) takes its share over at the slots after that: two more intervals.
        time.sleep((3 if len(daemons) > 1 else 1) * args.interval + 30)
        begin = [proc.cpu_seconds(d.pid) for d in daemons]
        db0 = postgres_cpu(cluster) if cluster else 0.0
        tx0 = transactions(url) if url else 0
        req0, t0 = sim.command(op="stats")["requests"], time.monotonic()
        time.sleep(args.minutes * 60)
        used = [proc.cpu_seconds(d.pid) - b for d, b in zip(daemons, begin, strict=True)]
        db = (postgres_cpu(cluster) - db0) if cluster else 0.0
        tx = (transactions(url) - tx0) if url else 0
        polls, seconds = sim.command(op="stats")["requests"] - req0, time.monotonic() - t0
        profile = None
        if args.profile:  # after the window: py-spy pauses the daemon for each sample
            profile = phases._profile(daemons[0].pid, args.profile, tmp / "profile.raw")
    finally:
        for daemon in daemons:
            stop(daemon)
        sim.close()
        receiver.stop()
        if cluster:
            cluster.destroy()
    return {
        "backend": "sqlite" if args.sqlite else "postgresql",
        "what_if": args.what_if,
        "accounts": args.accounts,
        "daemons": len(daemons),
        "window_s": round(seconds, 1),
        "polls": polls,
        "daemon_cpu_ms_per_poll": [round(1000 * u / polls, 3) for u in used],
        "postgres_cpu_ms_per_poll": round(1000 * db / polls, 3),
        "total_cpu_ms_per_poll": round(1000 * (sum(used) + db) / polls, 3),
        "transactions_per_poll": round(tx / polls, 3) if url else None,
        "profile_of_the_first_daemon": profile,
    }


def soak(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-ha-soak-"))
    sim = SimServer().start_in_thread()
    names = [f"acct{i:03d}" for i in range(args.accounts)]
    for name in names:
        sim.add_account("sunor", f"{name}-key-0123456789", balances={"CREDITS": {"available": 950}})
    receiver = Receiver().start()
    cluster = start_cluster()
    url = cluster.new_database()
    lines = [
        f"state: {{url: {url}}}",
        f"defaults: {{interval: {args.interval:g}s, timeout: {args.interval / 2:g}s, jitter: 0s,"
        " repeat: 1h}",
        "notify: {timeout: 5s}",
        f'notifiers: {{bench: "{receiver.url}"}}',
        "accounts:",
    ]
    for name in names:
        lines += [
            f"  - {{name: {name}, provider: sunor, api_key: {name}-key-0123456789,",
            f"     base_url: {sim.base_url('sunor')},",
            "     rules: [{threshold: {below: {warning: 500}}}]}",
        ]
    config = tmp / "daemon.yaml"
    config.write_text("\n".join(lines) + "\n")
    env = clean_env()
    daemons = start_daemons(config, args.daemons, tmp, env)
    low: set[str] = set()
    changes = 0
    kills: list[float] = []
    rng = random.Random(13)
    start = time.monotonic()
    next_kill = start + 60
    next_change = start + 3 * args.interval
    try:
        while time.monotonic() - start < args.minutes * 60:
            now = time.monotonic()
            if now >= next_kill:
                victim = len(kills) % len(daemons)
                daemons[victim].send_signal(signal.SIGKILL)
                daemons[victim].wait()
                kills.append(now)
                daemons[victim] = start_daemons(config, 1, tmp, env)[0]
                next_kill += 60
            if now >= next_change and now - start < args.minutes * 60 - 6 * args.interval:
                name = rng.choice(names)
                value = "950" if name in low else "400"
                sim.set_balance(f"{name}-key-0123456789", "CREDITS", available=Decimal(value))
                low.symmetric_difference_update({name})
                changes += 1
                next_change += 4 * args.interval
            time.sleep(0.2)
        time.sleep(6 * args.interval)  # the last crossings polled and delivered
    finally:
        for daemon in daemons:
            stop(daemon)
        sim.stop_thread()
        receiver.stop()
        cluster.destroy()
    return soak_figures(args, sim, names, receiver, changes, kills, start)


def soak_figures(
    args: argparse.Namespace,
    sim: SimServer,
    names: list[str],
    receiver: Receiver,
    changes: int,
    kills: list[float],
    start: float,
) -> dict[str, Any]:
    doubles = 0
    detail: list[list[Any]] = []
    polls = 0
    waits = []
    for name in names:
        times = sim.request_times(f"{name}-key-0123456789")
        polls += len(times)
        for a, b in itertools.pairwise(times):
            if b - a < 0.4 * args.interval:  # a daemon's own: half an interval at least
                doubles += 1
                detail.append([name, round(a - start, 2), round(b - a, 3)])
        for killed in kills:
            after = [t for t in times if t > killed]
            before = [t for t in times if t <= killed]
            if after and before:
                waits.append(after[0] - before[-1])
    arrivals = receiver.arrivals()
    ids = Counter(nid for a in arrivals for nid in set(ID.findall(f"{a.title} {a.message}")))
    return {
        "accounts": len(names),
        "daemons": args.daemons,
        "interval_s": args.interval,
        "minutes": args.minutes,
        "kills": len(kills),
        "polls": polls,
        "polls_done_twice": doubles,
        "twice": detail[:20],
        "kills_at_s": [round(k - start, 2) for k in kills],
        "longest_gap_between_polls_s": round(max(waits, default=0.0), 1),
        "lease_s": 2 * args.interval + 10,
        "crossings": changes,
        "messages": len(arrivals),
        "notifications_lost": max(0, changes - len(ids)),
        "notifications_sent_twice": sum(1 for n in ids.values() if n > 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ha")
    parser.add_argument("mode", choices=["cpu", "soak"])
    parser.add_argument("--accounts", type=int, default=10000)
    parser.add_argument("--daemons", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--sqlite", action="store_true", help="one daemon on SQLite instead")
    parser.add_argument("--profile", type=float, default=0, help="py-spy seconds after it")
    parser.add_argument("--what-if", help="bench.whatif experiments patched into the daemons")
    args = parser.parse_args(argv)
    figures = cpu(args) if args.mode == "cpu" else soak(args)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
