"""The overview's sparklines and runways, and why they are cheap to show again.

A page reloads every 30 s, and most accounts have not been polled since the last reload
(every 5 minutes by default). So both are keyed by the account's latest snapshot:

- A sparkline's address names the state it is drawn in and the instant of the latest poll
  it shows (``?range=24h&tone=critical&at=1714560000``), and it ends at that poll, so the
  image at an address never changes: the browser keeps it (``immutable``) and asks again
  only when the page links a new poll's address.
- A runway is kept per amount with the instant of the poll it was computed after, and
  computed again only after a new one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

from balancewatch.model import Snapshot
from balancewatch.poll.plan import AccountPlan
from balancewatch.state import Store
from balancewatch.web import facts, svg

RANGES: Mapping[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
"""The sparklines' spans."""
SPARK_BUCKETS = 60
RUNWAY_BUCKETS = 72
"""Six hours in five-minute spans: enough points for a rate, few rows to read."""
TONES = frozenset(facts.STATES)


def url(name: str, span: str, state: str, snap: Snapshot | None) -> str:
    """The address of an account's sparkline as of its latest poll."""
    base = f"/accounts/{quote(name)}/spark.svg?range={span}&tone={state}"
    return base if snap is None else f"{base}&at={int(snap.taken_at.timestamp())}"


def sparkline(
    store: Store, account: AccountPlan, span: str, now: datetime, tone: str | None
) -> str:
    """The sparkline of an account's main amount over one of :data:`RANGES`, in ``tone``
    (None: its state now). It runs from the first poll in the span to the latest, so a
    new account's first hour fills the width instead of a sliver at its right edge."""
    if tone is None:
        firing = [a for a in store.alert_states(account.name).values() if a.status == "firing"]
        tone = facts.state_of(account, store.health(account.name), firing)
    snap = store.last_snapshot(account.name)
    main = facts.main_amount(account, snap)
    since = now - RANGES[span]
    if main is None or snap is None:
        return svg.sparkline([], since, now, label=f"{account.name}: no balance yet")
    currency, kind = main
    until = snap.taken_at + timedelta(microseconds=1)
    series = svg.points(store.series(account.name, currency, kind, since, until, SPARK_BUCKETS))
    start = series[0][0] if series else since
    label = f"{account.name}: {kind} {currency} over {span}"
    return svg.sparkline(series, start, snap.taken_at, tone=tone, label=label)


def runway(store: Store, account: AccountPlan, currency: str, kind: str, now: datetime) -> str:
    """The runway of one amount at the spend rate of the last six hours, as a phrase."""
    buckets = store.series(
        account.name, currency, kind, now - facts.RUNWAY_WINDOW, now, RUNWAY_BUCKETS
    )
    bottom = facts.floor(account, currency, kind)
    return facts.runway_text(facts.runway(svg.points(buckets), bottom, now), bottom, currency)


class Runways:
    """Runways computed since the account's latest poll, kept (the newest ``size``).

    Used from the database thread only, like the reads it saves.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._kept: OrderedDict[tuple[str, str, str, Decimal], tuple[datetime, str]] = OrderedDict()

    def text(self, store: Store, account: AccountPlan, snap: Snapshot | None, now: datetime) -> str:
        main = facts.main_amount(account, snap)
        if main is None or snap is None:
            return ""
        bottom = facts.floor(account, *main)  # a reload may have moved the level
        key = (account.name, *main, bottom)
        kept = self._kept.get(key)
        if kept is not None and kept[0] == snap.taken_at:
            self._kept.move_to_end(key)
            return kept[1]
        found = runway(store, account, *main, now)
        self._kept[key] = (snap.taken_at, found)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)
        return found
