"""``/``: every account, worst first, filtered and paginated; built on the database thread.

The order and the filters need every account's state, which costs one query for the
failures in a row and one for firing alerts, whatever the number of accounts. Balances and
runways are read for the accounts of the shown page only (one query for their latest
snapshots, one short series each), so a page of 10,000 accounts costs little more than a
page of 50 does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import urlencode

from balancewatch.model import Snapshot
from balancewatch.poll.plan import AccountPlan
from balancewatch.records import Acknowledgement, AlertState
from balancewatch.state import Store
from balancewatch.web import facts, spark
from balancewatch.web.data import held_acks
from balancewatch.web.listing import Listing

PER_PAGE = 50
REFRESH = 30
"""The pages reload themselves this often (``<meta http-equiv=refresh>``: no script)."""
MAX_PER_PAGE = 500
FILTER_STATES = ("firing", *facts.STATES)


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
        if span not in spark.RANGES:
            raise BadQuery(f"range must be one of {', '.join(spark.RANGES)}, not {span[:40]!r}")
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
    acks: dict[str, Acknowledgement]
    """Acknowledgements holding for its alerts, by alert key."""
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


def overview(
    store: Store, listed: Listing, query: Query, now: datetime, runways: spark.Runways
) -> Overview:
    """Run on the database thread: every read of the page, and the ordering (no sort: the
    accounts, by name once per config, are dealt into one list per state, worst first)."""
    failures = store.failures()
    firing: dict[str, list[AlertState]] = {}
    for alert in store.firing_alerts():
        firing.setdefault(alert.account, []).append(alert)
    by_state: dict[str, list[AccountPlan]] = {state: [] for state in facts.STATES}
    no_alert: list[AlertState] = []
    for account in listed.accounts:
        name = account.name
        state = facts.state(account.enabled, failures.get(name), firing.get(name, no_alert))
        by_state[state].append(account)
    chosen = [
        account
        for state in facts.STATES
        if _state_wanted(state, query.state)
        for account in by_state[state]
        if _matches(account, query)
    ]
    start = (query.page - 1) * query.per
    shown = chosen[start : start + query.per]
    snaps = store.last_snapshots([a.name for a in shown])
    acks = store.acknowledgements() if firing else []
    rows = [
        _row(
            store,
            account,
            snaps.get(account.name),
            firing.get(account.name, []),
            acks,
            query,
            now,
            runways,
        )
        for account in shown
    ]
    return Overview(
        query=query,
        rows=rows,
        matched=len(chosen),
        total=len(listed.accounts),
        counts={state: len(found) for state, found in by_state.items()},
        tags=listed.tags,
        outbox_depth=store.outbox_depth(),
        reload_failed=store.get_meta("last_reload_ok") == "0",
    )


def _row(
    store: Store,
    account: AccountPlan,
    snap: Snapshot | None,
    firing: list[AlertState],
    acks: list[Acknowledgement],
    query: Query,
    now: datetime,
    runways: spark.Runways,
) -> Row:
    health = store.health(account.name)
    failing = health is not None and health.consecutive_failures > 0
    state = facts.state_of(account, health, firing)
    return Row(
        name=account.name,
        provider=account.provider_name,
        tags=account.tags,
        state=state,
        alerts=sorted(firing, key=lambda a: -a.severity),
        acks={key: ack for (_, key), ack in held_acks(acks, firing).items()} if firing else {},
        amounts=facts.amounts(snap),
        last_ok=facts.age_text(snap.taken_at if snap else None, now),
        failures=health.consecutive_failures if health else 0,
        error=health.last_error if failing and health else None,
        runway=runways.text(store, account, snap, now),
        spark=spark.url(account.name, query.range, state, snap),
    )


def _state_wanted(state: str, wanted: str) -> bool:
    if wanted == "firing":
        return state in ("critical", "warning", "info")
    return not wanted or state == wanted


def _matches(account: AccountPlan, query: Query) -> bool:
    if query.name and query.name.lower() not in account.name.lower():
        return False
    return not query.tag or query.tag in account.tags
