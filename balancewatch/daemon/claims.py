"""This daemon's leases: claimed in batches, kept between polls, released in batches.

A poll runs only under a lease on its account (:mod:`balancewatch.state.leases`), and
its record is written only if the lease's fencing token is still current. Claiming costs a
round trip to the database, so :class:`Leases`:

- **batches** the claims of the polls starting within :data:`CLAIM_WINDOW` (or while a
  claim is under way) into one ``claim_accounts`` call, as the group commit batches their
  records (:mod:`~balancewatch.daemon.commits`);
- **keeps** a granted lease and its token, and claims again only when what is left of it
  might not cover this poll and the start of the next one (:meth:`Leases.needs_renewal`).
  With the default lease (two intervals and ten seconds) a holder renews at every other
  poll; the fencing token stays the same meanwhile, as nobody else can claim an
  unexpired lease.

Time here is the process's monotonic clock, started *before* the claim was sent: the
database's lease began later than that, so the daemon's idea of its lease never outlasts
the database's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from balancewatch.state import Claim

CLAIM_WINDOW = 0.05
"""Seconds a claim waits for others to join it: the polls of one slot second go together."""
MAX_BATCH = 1000
RENEW_SLACK = 2.0
"""Seconds added to what a lease must still cover: a claim's own round trip and queueing."""

ClaimCall = Callable[[Sequence[tuple[str, float]]], Awaitable[dict[str, Claim]]]
ReleaseCall = Callable[[Sequence[str]], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Held:
    token: int
    until: float
    """Monotonic seconds by which the lease has surely run out."""


class Leases:
    """``await acquire(name, lease, cover)``: the fencing token to poll ``name`` under, or
    None if another daemon holds it (or the claim failed: the StateError is raised)."""

    def __init__(
        self,
        owner: str,
        claim: ClaimCall,
        release: ReleaseCall,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        *,
        window: float = CLAIM_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.owner = owner
        self._claim = claim
        self._release = release
        self._spawn = spawn
        self._window = window
        self._clock = clock
        self.held: dict[str, Held] = {}
        self._pending: dict[str, tuple[float, list[asyncio.Future[Claim | None]]]] = {}
        self._claiming = False
        self._to_release: set[str] = set()
        self.claims = 0
        """Claim round trips made (for the benchmark's count)."""
        self.kept = 0
        """Polls that went ahead on a lease kept from an earlier claim."""

    def needs_renewal(self, name: str, cover: float) -> bool:
        """Whether the lease on ``name`` might run out within ``cover`` seconds."""
        held = self.held.get(name)
        return held is None or held.until - self._clock() < cover + RENEW_SLACK

    async def acquire(self, name: str, lease: float, cover: float) -> Claim | None:
        """A claim to poll ``name`` under: the kept one if it covers ``cover`` more
        seconds (nobody else can have claimed it since), else a new claim."""
        held = self.held.get(name)
        if held is not None and not self.needs_renewal(name, cover):
            self.kept += 1
            return Claim(name, held.token, self.owner)
        self._to_release.discard(name)
        done: asyncio.Future[Claim | None] = asyncio.get_running_loop().create_future()
        waiting = self._pending.setdefault(name, (lease, []))[1]
        waiting.append(done)
        if not self._claiming:
            self._claiming = True
            self._spawn(self._flush())
        return await done

    def holds(self, name: str) -> bool:
        held = self.held.get(name)
        return held is not None and held.until > self._clock()

    def drop(self, name: str) -> None:
        """Forget the lease on ``name`` (a refused commit: it is someone else's now)."""
        self.held.pop(name, None)

    def release_later(self, name: str) -> None:
        """Give ``name`` up soon (with others), unless it is claimed again meanwhile."""
        if name in self.held:
            self._to_release.add(name)
            if not self._claiming:
                self._claiming = True
                self._spawn(self._flush())

    async def release_all(self) -> list[str]:
        """The accounts held, forgotten here (the caller ends them in the database)."""
        names = sorted(self.held)
        self.held.clear()
        self._to_release.clear()
        return names

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(self._window)
            while self._pending or self._to_release:
                if self._to_release:
                    await self._give_up()
                if self._pending:
                    await self._claim_batch()
        finally:
            self._claiming = False

    async def _give_up(self) -> None:
        names = sorted(self._to_release)
        self._to_release.clear()
        for name in names:
            self.held.pop(name, None)
        await self._release(names)  # a failure leaves them to run out: nothing is lost

    async def _claim_batch(self) -> None:
        names = list(self._pending)[:MAX_BATCH]
        batch = {name: self._pending.pop(name) for name in names}
        started = self._clock()
        self.claims += 1
        try:
            granted = await self._claim([(name, lease) for name, (lease, _) in batch.items()])
        except Exception as error:  # each waiter gets it, and decides
            for name, (_, waiting) in batch.items():
                self.held.pop(name, None)
                for done in waiting:
                    if not done.done():
                        done.set_exception(error)
            return
        for name, (lease, waiting) in batch.items():
            claim = granted.get(name)
            if claim is None:
                self.held.pop(name, None)
            else:
                self.held[name] = Held(claim.token, started + lease)
            for done in waiting:
                if not done.done():
                    done.set_result(claim)
