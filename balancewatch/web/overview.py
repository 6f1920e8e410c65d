"""``/``: every account, worst first, filtered and paginated; built on the database thread.

The order and the filters need every account's state, which costs one query for health
and one for firing alerts, whatever the number of accounts. Balances and runways are read
for the accounts of the shown page only (one query for their latest snapshots, one short
series each), so a page of 10,000 accounts costs about what a page of 50 does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import urlencode

from balancewatch.config.load import Account, Config
from balancewatch.model import Snapshot
from balancewatch.records import AlertState
from balancewatch.state import Store
from balancewatch.web import facts, svg

RANGES: Mapping[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
"""The sparklines' spans."""
PER_PAGE = 50
REFRESH = 30
"""The pages reload themselves this often (``<meta http-equiv=refresh>``: no script)."""
MAX_PER_PAGE = 500
FILTER_STATES = ("firing", *facts.STATES)
SPARK_BUCKETS = 60
RUNWAY_BUCKETS = 72
"""Six hours in five-minute spans: enough points for a rate, few rows to read."""


class BadQuery(ValueError):
    """A parameter the page cannot use; the message says which and what it takes."""


@dataclass(frozen=True)
class Query:
    """The overview's parameters, as the URL gives them."""

    name: str = ""
    tag: str = ""
    state: str = ""
    range: str = "24h"
    page: int = 1
    per: int = PER_PAGE
    refresh: int = REFRESH
    """Seconds between reloads; 0: none."""

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Query:
        known = {"name", "tag", "state", "range", "page", "per", "refresh"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise BadQuery(f"unknown parameter {unknown[0]!r}; known: {', '.join(sorted(known))}")
        state = params.get("state", "")
        if state and state not in FILTER_STATES:
            raise BadQuery(f"state must be one of {', '.join(FILTER_STATES)}, not {state[:40]!r}")
        span = params.get("range", "24h")
        if span not in RANGES:
            raise BadQuery(f"range must be one of {', '.join(RANGES)}, not {span[:40]!r}")
        return cls(
            name=params.get("name", "").strip()[:100],
            tag=params.get("tag", "").strip()[:100],
            state=state,
            range=span,
            page=_number(params, "page", 1, 1_000_000),
            per=_number(params, "per", PER_PAGE, MAX_PER_PAGE),
            refresh=parse_refresh(params),
        )

    def url(self, **changes: object) -> str:
        """This page's address with some parameters changed (defaults left out)."""
        query = replace(self, **changes)  # type: ignore[arg-type]
        params = {
            k: v
            for k, v in (
                ("name", query.name),
                ("tag", query.tag),
                ("state", query.state),
                ("range", "" if query.range == "24h" else query.range),
                ("page", "" if query.page == 1 else str(query.page)),
                ("per", "" if query.per == PER_PAGE else str(query.per)),
                ("refresh", refresh_param(query.refresh)),
            )
            if v
        }
        return "/?" + urlencode(params) if params else "/"


def parse_refresh(params: Mapping[str, str]) -> int:
    """``refresh``: ``off``, or seconds from 5 to 3600 (default :data:`REFRESH`)."""
    text = params.get("refresh", "")
    if text == "":
        return REFRESH
    if text == "off":
        return 0
    if not text.isdigit() or not 5 <= int(text) <= 3600:
        raise BadQuery(f"refresh must be off or seconds from 5 to 3600, not {text[:40]!r}")
    return int(text)


def refresh_param(seconds: int) -> str:
    """The ``refresh`` value that gives ``seconds`` ('' for the default)."""
    return "" if seconds == REFRESH else "off" if seconds == 0 else str(seconds)


def _number(params: Mapping[str, str], key: str, default: int, most: int) -> int:
    text = params.get(key)
    if text is None or text == "":
        return default
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise BadQuery(f"{key} must be a whole number from 1 to {most}, not {text[:40]!r}")
    return int(text)


@dataclass(frozen=True)
class Row:
    name: str
    provider: str
    tags: tuple[str, ...]
    state: str
    alerts: list[AlertState]
    amounts: list[facts.Amount]
    last_ok: str
    failures: int
    error: str | None
    runway: str
    spark: str
    """The sparkline's address."""


@dataclass(frozen=True)
class Overview:
    query: Query
    rows: list[Row]
    matched: int
    total: int
    counts: dict[str, int]
    tags: list[str]
    outbox_depth: int
    reload_failed: bool
    pages: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pages", max(1, math.ceil(self.matched / self.query.per)))


def overview(store: Store, config: Config, query: Query, now: datetime) -> Overview:
    """Run on the database thread: every read of the page, and the sorting."""
    healths = {h.account: h for h in store.all_health()}
    firing: dict[str, list[AlertState]] = {}
    for alert in store.firing_alerts():
        firing.setdefault(alert.account, []).append(alert)
    states = {
        a.name: facts.state_of(a, healths.get(a.name), firing.get(a.name, ()))
        for a in config.accounts
    }
    counts = dict.fromkeys(facts.STATES, 0)
    for state in states.values():
        counts[state] += 1
    chosen = sorted(
        (a for a in config.accounts if _matches(a, states[a.name], query)),
        key=lambda a: (facts.RANK[states[a.name]], a.name),
    )
    start = (query.page - 1) * query.per
    shown = chosen[start : start + query.per]
    snaps = store.last_snapshots([a.name for a in shown])
    rows = []
    for account in shown:
        health = healths.get(account.name)
        snap = snaps.get(account.name)
        failing = health is not None and health.consecutive_failures > 0
        rows.append(
            Row(
                name=account.name,
                provider=account.provider,
                tags=account.tags,
                state=states[account.name],
                alerts=sorted(firing.get(account.name, []), key=lambda a: -a.severity),
                amounts=facts.amounts(snap),
                last_ok=facts.age_text(snap.taken_at if snap else None, now),
                failures=health.consecutive_failures if health else 0,
                error=health.last_error if failing and health else None,
                runway=_runway(store, account, snap, now),
                spark=f"/accounts/{account.name}/spark.svg?range={query.range}",
            )
        )
    return Overview(
        query=query,
        rows=rows,
        matched=len(chosen),
        total=len(config.accounts),
        counts=counts,
        tags=sorted({t for a in config.accounts for t in a.tags}),
        outbox_depth=store.outbox_depth(),
        reload_failed=store.get_meta("last_reload_ok") == "0",
    )


def _matches(account: Account, state: str, query: Query) -> bool:
    if query.name and query.name.lower() not in account.name.lower():
        return False
    if query.tag and query.tag not in account.tags:
        return False
    if query.state == "firing":
        return state in ("critical", "warning", "info")
    return not query.state or state == query.state


def _runway(store: Store, account: Account, snap: Snapshot | None, now: datetime) -> str:
    main = facts.main_amount(account, snap)
    return "" if main is None else runway(store, account, *main, now)


def runway(store: Store, account: Account, currency: str, kind: str, now: datetime) -> str:
    """The runway of one amount at the spend rate of the last six hours, as a phrase."""
    buckets = store.series(
        account.name, currency, kind, now - facts.RUNWAY_WINDOW, now, RUNWAY_BUCKETS
    )
    bottom = facts.floor(account, currency, kind)
    return facts.runway_text(facts.runway(svg.points(buckets), bottom, now), bottom, currency)


def sparkline(store: Store, account: Account, span: str, now: datetime) -> str:
    """The sparkline of an account's main amount over one of :data:`RANGES`, coloured by
    its state. It starts at the first poll in the span: a new account's first hour fills
    the width instead of a sliver at its right edge."""
    firing = [a for a in store.alert_states(account.name).values() if a.status == "firing"]
    tone = facts.state_of(account, store.health(account.name), firing)
    snap = store.last_snapshot(account.name)
    main = facts.main_amount(account, snap)
    since = now - RANGES[span]
    if main is None:
        return svg.sparkline([], since, now, label=f"{account.name}: no balance yet")
    currency, kind = main
    series = svg.points(store.series(account.name, currency, kind, since, now, SPARK_BUCKETS))
    start = series[0][0] if series else since
    label = f"{account.name}: {kind} {currency} over {span}"
    return svg.sparkline(series, start, now, tone=tone, label=label)
