"""What each racing process does in test_races.py (a module, so ``spawn`` can import it)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from balancewatch.state import open_store
from tests.state.builders import T0

HOUR = 3600.0


def claim_rounds(
    location: Path | str, owner: str, accounts: list[str], rounds: int, barrier: Any
) -> list[tuple[int, str, int]]:
    """Each round: wait for every racer, claim every account at once, wait again, release.

    Returns (round, account, token) for every claim granted to ``owner``.
    """
    store = open_store(location, now=T0)
    shuffled = random.Random(owner)
    granted = []
    try:
        for round_ in range(rounds):
            order = accounts[:]
            shuffled.shuffle(order)
            barrier.wait()
            claims = store.claim_accounts(owner, [(account, HOUR) for account in order])
            granted += [(round_, account, claim.token) for account, claim in claims.items()]
            barrier.wait()
            store.release_accounts(owner)
    finally:
        store.close()
    return granted


def report_claim_rounds(
    results: Any, location: Path | str, owner: str, accounts: list[str], rounds: int, barrier: Any
) -> None:
    """:func:`claim_rounds` in a child process: its grants (or its error) go to ``results``."""
    try:
        results.put(claim_rounds(location, owner, accounts, rounds, barrier))
    except BaseException as error:
        barrier.abort()  # the others stop waiting for a racer that is gone
        results.put([("error", repr(error), 0)])
        raise
