"""``/accounts/<name>``: one account's charts, alerts, silences, polls and notifications.

Built on the database thread, like the overview. One chart per currency and kind of the
latest poll, each from :meth:`~balancewatch.state.Store.series` (a few hundred points
whatever the range), with the account's threshold levels, its alert episodes and the
silences over it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from balancewatch.model import BALANCE_KINDS, Snapshot
from balancewatch.poll.plan import AccountPlan
from balancewatch.records import Acknowledgement, AlertState, Health, Notification, Silence
from balancewatch.state import Store
from balancewatch.units import format_amount, format_duration, parse_duration
from balancewatch.web import facts, svg
from balancewatch.web.data import held_acks
from balancewatch.web.overview import BadQuery
from balancewatch.web.spark import runway

RANGES = ("1h", "6h", "24h", "7d", "30d", "90d")
"""The ranges offered as links; any duration from 10 minutes to 400 days is accepted."""
SHORTEST, LONGEST = timedelta(minutes=10), timedelta(days=400)
CHART_BUCKETS = 300
"""Spans per chart: up to 600 points (each span's lowest and highest)."""
RECENT = 20


def parse_range(params: Mapping[str, str]) -> tuple[str, timedelta]:
    """``range``: any duration from 10 minutes to 400 days (default 24h)."""
    unknown = sorted(set(params) - {"range", "refresh"})
    if unknown:
        raise BadQuery(f"unknown parameter {unknown[0]!r}; known: range, refresh")
    text = params.get("range", "24h")
    try:
        span = parse_duration(text)
    except ValueError as error:
        raise BadQuery(f"range: {error}") from None
    if not SHORTEST <= span <= LONGEST:
        raise BadQuery("range must be from 10m to 400d")
    return text, span


@dataclass(frozen=True)
class Chart:
    currency: str
    kind: str
    latest: str
    svg: str
    runway: str


@dataclass(frozen=True)
class Poll:
    at: datetime
    amounts: list[facts.Amount]


@dataclass(frozen=True)
class Detail:
    account: AccountPlan
    state: str
    health: Health | None
    last_ok: str
    firing: list[AlertState]
    charts: list[Chart]
    silences: list[Silence]
    acks: dict[str, Acknowledgement]
    """The acknowledgements holding for firing alerts, by alert key."""
    silence_rules: list[str]
    polls: list[Poll]
    notifications: list[Notification]
    range: str
    ranges: tuple[str, ...]
    since: datetime
    interval: str
    now: datetime


def detail(store: Store, account: AccountPlan, span: str, now: datetime) -> Detail:
    """Run on the database thread: every read of the account's page."""
    delta = parse_duration(span)
    name = account.name
    health = store.health(name)
    firing = sorted(
        (a for a in store.alert_states(name).values() if a.status == "firing"),
        key=lambda a: -a.severity,
    )
    snap = store.last_snapshot(name)
    interval = account.effective.interval
    recent = store.history(name, now - interval * (RECENT + 5))[-RECENT:]
    notes = store.notifications_of(name, 500)
    since = now - delta
    silences = [s for s in store.silences() if s.account in (name, "*") and s.ends_at > since]
    charts = [
        _chart(store, account, snap, currency, kind, since, now, notes, firing, silences)
        for currency, kind in _amounts(snap)
    ]
    return Detail(
        account=account,
        state=facts.state_of(account, health, firing),
        health=health,
        last_ok=facts.age_text(snap.taken_at if snap else None, now),
        firing=firing,
        charts=charts,
        silences=[s for s in silences if s.ends_at > now],
        acks={
            key: ack for (_, key), ack in held_acks(store.acknowledgements(name), firing).items()
        },
        silence_rules=silence_rules(account),
        polls=[Poll(s.taken_at, facts.amounts(s)) for s in reversed(recent)],
        notifications=notes[:RECENT],
        range=span,
        ranges=RANGES,
        since=since,
        interval=format_duration(interval),
        now=now,
    )


def silence_rules(account: AccountPlan) -> list[str]:
    """What a silence of this account may name (as ``silence --rule`` accepts): its rule
    ids, their types, and the health alerts."""
    return sorted(Silence.targets(account.rules.ids))


def _amounts(snap: Snapshot | None) -> list[tuple[str, str]]:
    if snap is None:
        return []
    return [
        (currency, kind)
        for currency, balance in sorted(snap.balances.items())
        for kind in BALANCE_KINDS
        if balance.kind(kind) is not None
    ]


def _chart(
    store: Store,
    account: AccountPlan,
    snap: Snapshot | None,
    currency: str,
    kind: str,
    since: datetime,
    now: datetime,
    notes: list[Notification],
    firing: list[AlertState],
    silences: list[Silence],
) -> Chart:
    buckets = store.series(account.name, currency, kind, since, now, CHART_BUCKETS)
    series = svg.points(buckets)
    start = max(since, series[0][0]) if series else since
    kinds = facts.rule_kinds(account)
    mine = [
        n
        for n in notes
        if n.fields.get("currency") in (None, "", currency)
        and n.fields.get("kind") in (None, "", kind)
        and n.created_at >= since
    ]
    bands = facts.episodes(
        mine,
        (a for a in firing if a.currency in (None, currency) and kinds.get(a.rule, kind) == kind),
        start,
    ) + facts.silence_bands(silences, account.name)
    value = snap.balances[currency].kind(kind) if snap else None
    title = f"{account.name}: {kind} {currency}, {format_duration(now - start)} to now (UTC)"
    return Chart(
        currency=currency,
        kind=kind,
        latest=format_amount(value, currency) if value is not None else "",
        svg=svg.chart(
            series,
            start,
            now,
            currency=currency,
            title=title,
            levels=facts.levels(account, currency, kind),
            bands=bands,
        ),
        runway=runway(store, account, currency, kind, now),
    )
