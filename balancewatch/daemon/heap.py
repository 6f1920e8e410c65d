"""The daemon's long-lived objects, kept out of the cyclic garbage collector's way.

A daemon watching 10,000 accounts holds about a million objects for its whole life: the
plans, their providers and settings, the history cache, APScheduler's jobs. Python's
cyclic collector walks every one of them on each full collection, and the loop waits
meanwhile: ~300 ms a time, twice in two minutes of polling (docs/benchmarks.md). Once
they exist, :func:`settle` moves them to the permanent generation (``gc.freeze``): full
collections then walk only what was made since, ~40 ms.

Frozen objects are still freed by reference counting when the daemon drops them (a
reload, a forgotten account). Only a cycle among them that becomes garbage would wait:
``settle`` thaws and collects everything first, and the daemon settles after its first
round of polls, after each reload and at each housekeeping pass.
"""

from __future__ import annotations

import asyncio
import gc


def settle() -> None:
    """Collect everything once, then leave what survives out of later collections."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


async def settle_after(seconds: float) -> None:
    """:func:`settle` once the first round of polls has made the cache (``seconds``)."""
    await asyncio.sleep(seconds)
    settle()
