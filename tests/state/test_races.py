"""Daemons racing for the same accounts and deliveries, on SQLite and on PostgreSQL.

Several threads (each its own store and connection, as separate daemons would have) or
several processes claim the same accounts at the same instant, round after round: every
account must be granted to exactly one of them each round, over thousands of claims, and
its token must go up by exactly one per round. Deliveries claimed by racing workers must
each go to one worker only, and fenced commits racing takeovers must write exactly the
records they were not refused.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from balancewatch.records import Delivery
from balancewatch.state import LeaseLost, Store
from tests.state import racers
from tests.state.builders import T0, notification, poll
from tests.state.conftest import OpenStore

ACCOUNTS = [f"acct-{i:03}" for i in range(50)]
ROUNDS = 20


def _run_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            results[n] = work(n)
        except BaseException as error:  # re-raised below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def _assert_one_winner_per_round(granted: list[list[tuple[int, str, int]]]) -> None:
    per_round = Counter((round_, account) for racer in granted for round_, account, _ in racer)
    assert set(per_round) == {(r, a) for r in range(ROUNDS) for a in ACCOUNTS}
    assert set(per_round.values()) == {1}, "an account was granted twice in one round"
    tokens = {(account, token) for racer in granted for _, account, token in racer}
    assert tokens == {(a, t) for a in ACCOUNTS for t in range(1, ROUNDS + 1)}


def test_each_claim_goes_to_exactly_one_of_four_threads(location: Path | str) -> None:
    """4 threads x 20 rounds x 50 accounts = 4,000 claims at once: 1,000 granted, each
    account once per round, tokens 1..20 with none repeated or skipped."""
    barrier = threading.Barrier(4)
    granted = _run_threads(
        4, lambda n: racers.claim_rounds(location, f"d{n}", ACCOUNTS, ROUNDS, barrier)
    )

    _assert_one_winner_per_round(granted)


def test_each_claim_goes_to_exactly_one_of_three_processes(location: Path | str) -> None:
    """The same race between real processes (separate interpreters and connections)."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(3)
    results = context.Queue()
    processes = [
        context.Process(
            target=racers.report_claim_rounds,
            args=(results, location, f"p{n}", ACCOUNTS, ROUNDS, barrier),
        )
        for n in range(3)
    ]
    for process in processes:
        process.start()
    granted = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)

    assert [process.exitcode for process in processes] == [0, 0, 0]

    _assert_one_winner_per_round(granted)


def test_racing_workers_never_claim_the_same_delivery(open_store: OpenStore) -> None:
    """3 workers drain 300 deliveries in claims of 7, concurrently: each delivery is
    claimed by exactly one of them, and all are delivered."""
    first = open_store()
    for i in range(100):
        nid = f"n{i:03}"
        channels = [Delivery(nid, channel) for channel in ("slack", "mail", "sms")]
        first.enqueue([notification(nid, T0)], channels)
    stores = [first, open_store(), open_store()]

    def drain(n: int) -> list[tuple[str, str]]:
        store, mine = stores[n], []
        while due := store.claim_deliveries(f"w{n}", T0, lease_seconds=3600, limit=7):
            for item in due:
                mine.append((item.notification.id, item.delivery.channel))
                store.mark_delivered(item.notification.id, item.delivery.channel, T0, item.claim)
        return mine

    claimed = [key for worker in _run_threads(3, drain) for key in worker]

    assert len(claimed) == len(set(claimed)) == 300
    assert first.outbox_depth() == 0


def test_fenced_commits_racing_takeovers_write_exactly_what_was_not_refused(
    open_store: OpenStore,
) -> None:
    """Two daemons take one account from each other (leases of 0 s) and commit under the
    token they got: each commit is written whole or refused whole, never half."""
    stores: list[Store] = [open_store(), open_store()]

    def fight(n: int) -> list[str]:
        store, written = stores[n], []
        for i in range(60):
            claim = store.claim_accounts(f"d{n}", [("acme", 0)]).get("acme")
            if claim is None:
                continue
            nid = f"d{n}-{i}"
            record = poll("acme", notifications=(notification(nid),), fence=claim.token)
            try:
                store.commit_poll(record)
            except LeaseLost:
                continue
            written.append(nid)
        return written

    written = [nid for daemon in _run_threads(2, fight) for nid in daemon]

    stored = {n.id for n in stores[0].recent_notifications(limit=1000)}
    assert stored == set(written)
    assert len(stores[0].history("acme", T0)) == len(written)
