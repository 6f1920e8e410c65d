"""This daemon's leases: claimed in batches, kept between polls, released in batches.

A poll runs only under a lease on its account (:mod:`balancewatch.state.leases`), and
its record is written only if the lease's fencing token is still current. Claiming costs a
round trip to the database, so :class:`Leases`:

- **batches** the claims of the polls starting within :data:`CLAIM_WINDOW` (or while a
  claim is under way) into one ``claim_accounts`` call, as the group commit batches their
  records (:mod:`~balancewatch.daemon.commits`);
- **keeps** a granted lease and its token, and polls under it while what is left of it
  covers this poll and the start of the next one (:meth:`Leases.needs_renewal`): nobody
  else can claim an unexpired lease, so the token stays current;
- **renews ahead**: right after a poll is written, a lease that would not cover the next
  one is renewed in the background, batched over :data:`RENEW_WINDOW` with every other
  renewal of the moment. A renewal bumps the token, so it is only ever sent between two
  polls of its account: a poll that starts while its account's renewal is under way waits
  for it and polls under the new token. With the default lease (two intervals and ten
  seconds) an account is renewed every other poll, off the polls' path.

Time here is the process's monotonic clock, started *before* the claim was sent: the
database's lease began later than that, so the daemon's idea of its lease never outlasts
the database's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from balancewatch.state import Claim

CLAIM_WINDOW = 0.05
"""Seconds a claim that a poll waits for gathers others before it is sent."""
RENEW_WINDOW = 1.0
"""Seconds renewals wait for others to join them (and for any claim a poll waits for)."""
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
    """``await acquire(name, lease, cover)``: the claim to poll ``name`` under, or None if
    another daemon holds it. A failed claim raises its StateError to those waiting for it."""

    def __init__(
        self,
        owner: str,
        claim: ClaimCall,
        release: ReleaseCall,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        *,
        window: float = CLAIM_WINDOW,
        renew_window: float = RENEW_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.owner = owner
        self._claim = claim
        self._release = release
        self._spawn = spawn
        self._window = window
        self._renew_window = renew_window
        self._clock = clock
        self.held: dict[str, Held] = {}
        self._pending: dict[str, tuple[float, list[asyncio.Future[Claim | None]]]] = {}
        self._inflight: dict[str, list[asyncio.Future[Claim | None]]] = {}
        self._to_release: set[str] = set()
        self._hurry = asyncio.Event()
        self._running = False
        self.claims = 0
        """Claim round trips made (for the benchmark's count)."""

    def needs_renewal(self, name: str, cover: float) -> bool:
        """Whether the lease on ``name`` might run out within ``cover`` seconds."""
        held = self.held.get(name)
        return held is None or held.until - self._clock() < cover + RENEW_SLACK

    async def acquire(self, name: str, lease: float, cover: float) -> Claim | None:
        """A claim to poll ``name`` under: the kept one if it covers ``cover`` more
        seconds and no renewal of it is under way, else a new claim (or that renewal)."""
        held = self.held.get(name)
        busy = name in self._pending or name in self._inflight
        if held is not None and not busy and not self.needs_renewal(name, cover):
            return Claim(name, held.token, self.owner)
        self._to_release.discard(name)
        done: asyncio.Future[Claim | None] = asyncio.get_running_loop().create_future()
        if name in self._inflight:
            self._inflight[name].append(done)
        else:
            self._pending.setdefault(name, (lease, []))[1].append(done)
            self._kick(hurry=True)
        return await done

    def renew_soon(self, name: str, lease: float, cover: float) -> None:
        """Right after a poll of ``name`` was written: renew its lease in the background if
        it might not cover the next poll (``cover`` seconds from now)."""
        queued = name in self._pending or name in self._inflight
        if name in self.held and not queued and self.needs_renewal(name, cover):
            self._pending[name] = (lease, [])
            self._kick(hurry=False)

    def holds(self, name: str) -> bool:
        held = self.held.get(name)
        return held is not None and held.until > self._clock()

    def drop(self, name: str) -> None:
        """Forget the lease on ``name`` (a refused commit: it is someone else's now)."""
        self.held.pop(name, None)

    def release_later(self, name: str) -> None:
        """Give ``name`` up soon (with others), unless it is claimed again meanwhile."""
        if name in self.held:
            entry = self._pending.get(name)
            if entry is not None and not entry[1]:
                del self._pending[name]  # a renewal nobody waits for: not needed now
            self._to_release.add(name)
            self._kick(hurry=False)

    async def release_all(self) -> list[str]:
        """The accounts held, forgotten here (the caller ends them in the database)."""
        names = sorted(self.held)
        self.held.clear()
        self._to_release.clear()
        return names

    def _kick(self, *, hurry: bool) -> None:
        if hurry:
            self._hurry.set()
        if not self._running:
            self._running = True
            self._spawn(self._flush())

    async def _flush(self) -> None:
        try:
            while self._pending or self._to_release:
                if not self._hurry.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._hurry.wait(), self._renew_window)
                await asyncio.sleep(self._window)  # let the polls of the moment join in
                self._hurry.clear()
                if self._to_release:
                    await self._give_up()
                if self._pending:
                    await self._claim_batch()
        finally:
            self._running = False

    async def _give_up(self) -> None:
        names = sorted(self._to_release)
        self._to_release.clear()
        for name in names:
            self.held.pop(name, None)
        await self._release(names)  # a failure leaves them to run out: nothing is lost

    async def _claim_batch(self) -> None:
        names = list(self._pending)[:MAX_BATCH]
        batch = {name: self._pending.pop(name) for name in names}
        self._inflight = {name: waiting for name, (_, waiting) in batch.items()}
        started = self._clock()
        self.claims += 1
        try:
            granted = await self._claim([(name, lease) for name, (lease, _) in batch.items()])
        except Exception as error:  # each waiter gets it, and decides
            for name, waiting in self._inflight.items():
                self.held.pop(name, None)
                for done in waiting:
                    if not done.done():
                        done.set_exception(error)
            return
        finally:
            inflight, self._inflight = self._inflight, {}
        for name, (lease, _) in batch.items():
            claim = granted.get(name)
            if claim is None:
                self.held.pop(name, None)
            else:
                self.held[name] = Held(claim.token, started + lease)
            for done in inflight[name]:
                if not done.done():
                    done.set_result(claim)
