"""The store on PostgreSQL, measured: round trips and latency of claims and group commits.

    .venv/bin/python -m bench.store_pg            # N=10,000 accounts, commits of 500

Starts a throwaway PostgreSQL (tests/pgcluster.py: initdb + pg_ctl on loopback, fsync off,
synchronous commits), opens a :class:`PostgresStore` with one connection and counts the
round trips of each call from libpq's own protocol trace (a round trip is a burst of
messages from the client followed by the server's answer). Latencies are medians of
``--repeat`` runs, wall clock, client and server on this machine. SQLite's group commit of
the same records (one fsynced transaction) is measured beside it for comparison.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from balancewatch.records import Delivery
from balancewatch.state.postgres import PostgresStore
from balancewatch.state.sqlite import SqliteStore
from tests.pgcluster import start_cluster
from tests.state.builders import T0, alert, notification, poll


def round_trips(trace: Path) -> int:
    """Client-to-server bursts that were answered, in a libpq trace file."""
    trips, sending = 0, False
    for line in trace.read_text().splitlines():
        direction = line.split("\t", 1)[0]
        if direction == "F":
            sending = True
        elif direction == "B" and sending:
            trips, sending = trips + 1, False
    return trips


def measure(call: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


class Traced:
    """A one-connection store whose messages are traced to a file, one call at a time."""

    def __init__(self, store: PostgresStore, trace: Path) -> None:
        self.store, self.trace = store, trace

    def trips(self, call: Callable[[], Any]) -> int:
        with self.trace.open("w") as handle:
            with self.store._pool.connection() as conn:
                conn.pgconn.trace(handle.fileno())
                conn.pgconn.set_trace_flags(1)  # PQTRACE_SUPPRESS_TIMESTAMPS
            call()
            with self.store._pool.connection() as conn:
                conn.pgconn.untrace()  # flushes libpq's buffer into the file
        return round_trips(self.trace)


def records(accounts: list[str], claims: dict[str, Any], at_minute: int) -> list[Any]:
    made = []
    at = T0.replace(minute=at_minute % 60)
    for i, account in enumerate(accounts):
        record = poll(account, at, fence=claims[account].token if claims else None)
        if i % 50 == 0:  # one in 50 polls changes an alert and notifies two channels
            nid = f"{account}-{at_minute}"
            record = replace(
                record,
                alerts=(alert(account),),
                notifications=(notification(nid, at, account),),
                deliveries=(Delivery(nid, "slack"), Delivery(nid, "mail")),
            )
        made.append(record)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    accounts = [f"acct-{i:05}" for i in range(args.accounts)]
    batch = accounts[: args.batch]
    cluster = start_cluster()
    workdir = Path(tempfile.mkdtemp(prefix="bw-bench-"))
    try:
        store = PostgresStore.open(cluster.new_database(), pool_size=1)
        traced = Traced(store, workdir / "trace.txt")
        lease = [(a, 600.0) for a in accounts]
        rows: list[tuple[str, str, str]] = []

        trips = traced.trips(lambda: store.claim_accounts("d1", lease))
        first = measure(lambda: store.claim_accounts("d1", lease), 1)
        rows.append((f"claim {args.accounts:,} accounts (renewal)", str(trips), f"{first:.0f}"))
        renew = measure(lambda: store.claim_accounts("d1", lease), args.repeat)
        rows[-1] = (rows[-1][0], rows[-1][1], f"{renew:.0f}")
        other = measure(lambda: store.claim_accounts("d2", lease), args.repeat)
        rows.append((f"claim {args.accounts:,} accounts held by another", "1", f"{other:.0f}"))
        small = [(a, 600.0) for a in accounts[:100]]
        rows.append(
            (
                "claim 100 accounts (one tick's worth)",
                str(traced.trips(lambda: store.claim_accounts("d1", small))),
                f"{measure(lambda: store.claim_accounts('d1', small), args.repeat):.1f}",
            )
        )

        minute = iter(range(10_000))
        claims = store.claim_accounts("d1", [(a, 600.0) for a in batch])
        made = iter([records(batch, claims, next(minute)) for _ in range(args.repeat + 1)])
        commit = lambda: store.commit_polls(next(made))  # noqa: E731
        rows.append((f"group commit of {args.batch} fenced records", str(traced.trips(commit)), ""))
        rows[-1] = (rows[-1][0], rows[-1][1], f"{measure(commit, args.repeat):.0f}")
        unfenced = iter([records(batch, {}, next(minute)) for _ in range(args.repeat + 1)])
        plain = lambda: store.commit_polls(next(unfenced))  # noqa: E731
        rows.append(
            (
                f"group commit of {args.batch} unfenced records",
                str(traced.trips(plain)),
                f"{measure(plain, args.repeat):.0f}",
            )
        )
        deliveries = lambda: store.claim_deliveries("d1", T0, 60, limit=100)  # noqa: E731
        rows.append(("claim 100 due deliveries", str(traced.trips(deliveries)), ""))
        beat = lambda: store.heartbeat("d1", host="h", pid=1, config_hash="c")  # noqa: E731
        rows.append(("heartbeat (returns every daemon)", str(traced.trips(beat)), ""))
        store.close()

        with SqliteStore.open(workdir / "state.db", now=T0) as sqlite:
            sqlite_claims = sqlite.claim_accounts("d1", [(a, 600.0) for a in batch])
            sq_made = iter(
                [records(batch, sqlite_claims, next(minute)) for _ in range(args.repeat)]
            )
            sq = lambda: sqlite.commit_polls(next(sq_made))  # noqa: E731
            rows.append((f"SQLite: group commit of {args.batch} fenced records", "-", ""))
            rows[-1] = (rows[-1][0], "-", f"{measure(sq, args.repeat):.0f}")
            sqlite_lease = [(a, 600.0) for a in accounts]
            sqlite.claim_accounts("d1", sqlite_lease)
            rows.append(
                (
                    f"SQLite: claim {args.accounts:,} accounts (renewal)",
                    "-",
                    f"{measure(lambda: sqlite.claim_accounts('d1', sqlite_lease), args.repeat):.0f}",
                )
            )
    finally:
        cluster.destroy()

    print("| call | round trips | median ms |")
    print("|---|---|---|")
    for name, trips_text, ms in rows:
        print(f"| {name} | {trips_text} | {ms} |")


if __name__ == "__main__":
    main()
