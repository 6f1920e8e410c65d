"""The daemon's in-memory view of each account: health, alert states, recent history.

The daemon is the only writer of these rows, so it loads them once per account (first
poll) and then keeps them in step with what it commits, instead of reading the database
on every poll. Silences and acknowledgements are written by others (the CLI, the page,
another daemon), so they are re-read, at most every :data:`SILENCE_REFRESH`; an
acknowledgement made on this daemon's own page is taken at once (:meth:`take_ack`).

History is the big part (an hour of polls for an account with ``change … within: 1h``),
so it is kept as the rules read it (:class:`~balancewatch.daemon.history.History`): the
poll times, and only the amounts of the kinds and currencies the account's rules look at,
as runs of equal amounts. The rules ask it their questions, and get the answers the
store's snapshots would give.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from balancewatch.daemon.history import History, Latest, Needs, kept_history
from balancewatch.model import Severity
from balancewatch.poll.plan import AccountPlan
from balancewatch.records import Acknowledgement, AlertState, Health, PollRecord, Silence
from balancewatch.state import Store

SILENCE_REFRESH = timedelta(seconds=10)
NO_STATES: Mapping[str, AlertState] = MappingProxyType({})
DbCall = Callable[..., Awaitable[Any]]


class AccountCache:
    def __init__(self) -> None:
        self.health: dict[str, Health | datetime] = {}
        """Per account: its Health, or for a well account the instant it was last polled."""
        self.states: dict[str, Mapping[str, AlertState]] = {}
        """Per account; one shared empty mapping for the many without any alert."""
        self.history: dict[str, History | Latest] = {}
        self._firing: Counter[Severity] = Counter()
        self._silences: list[Silence] = []
        self._silences_at: datetime | None = None
        self._acks: dict[tuple[str, str], Acknowledgement] = {}
        self._taken: dict[tuple[str, str], Acknowledgement] = {}
        self._needs: dict[Needs, Needs] = {}

    async def ensure(
        self, name: str, plan: AccountPlan, store: Store, db: DbCall, now: datetime
    ) -> None:
        """Load an account's rows the first time it is polled, and its history again when
        a reload changed what its rules read (the store has what the cache dropped)."""
        if name not in self.states:
            health = await db(store.health, name)
            if health is not None:
                self._keep_health(health)
            self.states[name] = await db(store.alert_states, name) or NO_STATES
            self._count(self.states[name].values(), +1)
        kept = self.history.get(name)
        if kept is not None and kept.plan is plan:
            return
        needs = self._needs_of(plan)
        if kept is not None and kept.needs == needs:
            kept.plan = plan
            return
        recent = await db(store.history, name, now - plan.history_window)
        if not recent:
            last = await db(store.last_snapshot, name)
            recent = [last] if last is not None else []
        kept = self.history[name] = kept_history(plan, needs)
        for snapshot in recent:
            kept.append(snapshot)

    def _needs_of(self, plan: AccountPlan) -> Needs:
        """``Needs.of(plan)``, one object for all accounts whose rules read the same."""
        needs = Needs.of(plan)
        return self._needs.setdefault(needs, needs)

    def forget(self, name: str) -> None:
        self.health.pop(name, None)
        self._count(self.states.pop(name, {}).values(), -1)
        self.history.pop(name, None)

    def history_for(self, name: str, plan: AccountPlan, now: datetime) -> History | Latest:
        """The polls within the rules' window plus the previous one, for the rules to ask.

        Older ones are dropped from memory as they leave the window; the latest is always
        kept, whatever its age, as the "previous poll" of the next one.
        """
        kept = self.history.get(name)
        if kept is None:
            kept = self.history[name] = kept_history(plan, self._needs_of(plan))
        kept.trim(now - plan.history_window)
        return kept

    def remember(self, record: PollRecord) -> None:
        """Keep the cache equal to what was just committed."""
        self._keep_health(record.health)
        if not record.alerts:
            self.states.setdefault(record.account, NO_STATES)
        else:
            states = self.states.get(record.account)
            if not isinstance(states, dict):
                states = self.states[record.account] = dict(states or {})
            self._keep(states, record.alerts)
        kept = self.history.get(record.account)
        if record.snapshot is not None and kept is not None:
            kept.append(record.snapshot)
            # Polls the next one cannot see, dropped now rather than a whole interval later.
            kept.trim(record.snapshot.taken_at - kept.needs.window)

    def health_of(self, name: str) -> Health | None:
        """The account's health as last committed (None before its first poll)."""
        kept = self.health.get(name)
        if isinstance(kept, datetime):
            return Health(name, last_ok_at=kept, last_poll_at=kept)
        return kept

    def _keep_health(self, health: Health) -> None:
        """Most accounts are well: of their health, the instant of the last poll is all
        there is to keep (a Health of its own is ~100 B an account)."""
        at = health.last_ok_at
        if at is not None and health == Health(health.account, last_ok_at=at, last_poll_at=at):
            self.health[health.account] = at
        else:
            self.health[health.account] = health

    def _keep(self, states: dict[str, AlertState], changed: Iterable[AlertState]) -> None:
        for state in changed:
            old = states.get(state.key)
            self._count([old] if old is not None else [], -1)
            self._count([state], +1)
            states[state.key] = state

    async def silences(self, store: Store, db: DbCall, now: datetime) -> list[Silence]:
        if self._silences_at is None or now - self._silences_at >= SILENCE_REFRESH:
            # One call on the database thread: with the state down, each call waits for a
            # connection (10 s) before it fails, and the next one waits again.
            self._silences, acks = await db(lambda: (store.silences(now), store.acknowledgements()))
            self._acks = self._with_taken({(a.account, a.alert_key): a for a in acks})
            self._silences_at = now
        return self._silences

    def take_ack(self, ack: Acknowledgement) -> None:
        """An acknowledgement being stored by this daemon's page: in force from now on.

        Taken before it is written, so that no poll deciding meanwhile sends a reminder
        (which would end it); kept over refreshes that read the store before the write.
        """
        self._taken[ack.account, ack.alert_key] = ack
        self._acks[ack.account, ack.alert_key] = ack

    def withdraw_ack(self, ack: Acknowledgement) -> None:
        """``ack`` could not be written: it does not hold (the next refresh reads what the
        store has)."""
        key = (ack.account, ack.alert_key)
        if self._taken.get(key) is ack:
            del self._taken[key]
        if self._acks.get(key) is ack:
            del self._acks[key]

    def _with_taken(
        self, stored: dict[tuple[str, str], Acknowledgement]
    ) -> dict[tuple[str, str], Acknowledgement]:
        for key, mine in list(self._taken.items()):
            found = stored.get(key)
            if found is not None and (found.episode, found.acked_at) >= (
                mine.episode,
                mine.acked_at,
            ):
                del self._taken[key]  # the store has it now
            else:
                stored[key] = mine
        return stored

    def acked(self, state: AlertState) -> bool:
        """Whether an acknowledgement quiets this alert's reminders (``alerts.advance``)."""
        ack = self._acks.get((state.account, state.key))
        return ack is not None and ack.holds(state)

    def holding_acks(self) -> list[Acknowledgement]:
        """The acknowledgements in force on the alerts this daemon polls (for metrics)."""
        return [
            ack
            for (account, key), ack in self._acks.items()
            if (state := self.states.get(account, {}).get(key)) is not None and ack.holds(state)
        ]

    def _count(self, states: Iterable[AlertState], sign: int) -> None:
        for state in states:
            if state.status == "firing":
                self._firing[state.severity] += sign

    def firing_counts(self) -> Counter[Severity]:
        """Firing alerts by severity, kept up to date as polls are remembered (O(1) a poll)."""
        return +self._firing
