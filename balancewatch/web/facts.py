"""What the page says about one account, beyond the stored rows: its state, the amount its
sparkline follows, its threshold levels, its runway, its alert episodes. Pure functions.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from balancewatch.model import KIND_ALIASES, Severity, Snapshot
from balancewatch.poll.plan import AccountPlan
from balancewatch.records import AlertState, Health, Notification, Silence
from balancewatch.rules.specs import HeldIncreaseRule, RunwayRule, ThresholdRule
from balancewatch.units import format_amount, format_duration
from balancewatch.web.svg import Band, Level, Point

STATES = ("critical", "warning", "info", "failing", "waiting", "ok", "disabled")
"""An account's state, worst first: the order of the overview."""
RANK = {state: i for i, state in enumerate(STATES)}
RUNWAY_WINDOW = timedelta(hours=6)
"""The spend rate is measured over this much history (the runway rule's default)."""


def state_of(account: AccountPlan, health: Health | None, firing: Sequence[AlertState]) -> str:
    """critical/warning/info (firing, worst severity), failing, waiting (never polled),
    ok; a disabled account is ``disabled`` whatever its old rows say."""
    failures = None if health is None else health.consecutive_failures
    return state(account.enabled, failures, firing)


def state(enabled: bool, failures: int | None, firing: Sequence[AlertState]) -> str:
    """:func:`state_of` from the failures in a row (None: never polled)."""
    if not enabled:
        return "disabled"
    if firing:
        return max(a.severity for a in firing).label
    if failures is None:
        return "waiting"
    return "failing" if failures else "ok"


def main_amount(account: AccountPlan, snap: Snapshot | None) -> tuple[str, str] | None:
    """The (currency, kind) an account's sparkline and runway follow: what its first
    threshold or runway rule watches, else its first currency's available amount."""
    kind, currency = "available", account.provider.currency
    for entry in account.rules.entries:
        spec = entry.spec
        if isinstance(spec, ThresholdRule | RunwayRule):
            kind = KIND_ALIASES.get(spec.balance, spec.balance)
            currency = spec.currency or currency
            break
    if snap is None:
        return None if currency is None else (currency, kind)
    if currency is not None and currency in snap.balances:
        return currency, kind
    for name, balance in sorted(snap.balances.items()):
        if balance.kind(kind) is not None:
            return name, kind
    return None


def rule_kinds(account: AccountPlan) -> dict[str, str]:
    """The amount kind each of the account's rules reads, by rule id."""
    found = {}
    for rule_id, entry in zip(account.rules.ids, account.rules.entries, strict=True):
        spec = entry.spec
        kind = spec.kind if isinstance(spec, HeldIncreaseRule) else spec.balance
        found[rule_id] = KIND_ALIASES.get(kind, kind)
    return found


def _thresholds(account: AccountPlan, currency: str, kind: str) -> list[ThresholdRule]:
    return [
        spec
        for entry in account.rules.entries
        if isinstance(spec := entry.spec, ThresholdRule)
        and spec.currency in (None, currency)
        and KIND_ALIASES.get(spec.balance, spec.balance) == kind
    ]


def levels(account: AccountPlan, currency: str, kind: str) -> list[Level]:
    """The threshold levels on one amount, as lines to draw."""
    return [
        Level(value, f"{sev.label} {spec.direction} {format_amount(value, currency)}", sev.label)
        for spec in _thresholds(account, currency, kind)
        for sev, value in spec.levels()
    ]


def floor(account: AccountPlan, currency: str, kind: str) -> Decimal:
    """Where the runway ends: the critical ``below`` level on this amount, else zero (as the
    runway rule measures it: running into the critical alert is running out)."""
    found = [
        level
        for spec in _thresholds(account, currency, kind)
        if spec.direction == "below"
        for sev, level in spec.levels()
        if sev == Severity.CRITICAL
    ]
    return max(found, default=Decimal(0))


def runway(series: Sequence[Point], bottom: Decimal, now: datetime) -> timedelta | None:
    """Time until the amount reaches ``bottom`` at the spend rate of ``series`` (decreases
    only, so a top-up neither hides the burn nor looks like negative spending), or None
    when nothing is being spent or there is too little history to call it a rate."""
    if len(series) < 2:
        return None
    span = series[-1][0] - series[0][0]
    if span < timedelta(minutes=1):
        return None
    spent = sum(
        (max(Decimal(0), a - b) for (_, a), (_, b) in itertools.pairwise(series)), Decimal(0)
    )
    if spent <= 0:
        return None
    rate = spent / Decimal(int(span.total_seconds()))
    left = max(Decimal(0), series[-1][1] - bottom)
    return max(timedelta(0), timedelta(seconds=int(left / rate)) - (now - series[-1][0]))


def runway_text(left: timedelta | None, bottom: Decimal, currency: str) -> str:
    if left is None:
        return ""
    if not left:
        return f"already at or below {format_amount(bottom, currency)}" if bottom else "run out"
    target = f"to {format_amount(bottom, currency)}" if bottom else "to zero"
    return f"~{format_duration(left)} {target}"


def episodes(
    notes: Iterable[Notification], firing: Iterable[AlertState], since: datetime
) -> list[Band]:
    """Alert episodes as bands, one per severity: from each key's firing notification to
    its resolve, cut where it escalated or de-escalated (events are instants); plus what
    fires now and began before the notifications kept."""
    bands: list[Band] = []
    open_: dict[str, tuple[datetime, Severity, str]] = {}
    for note in sorted(notes, key=lambda n: n.created_at):
        key, at = note.alert_key, note.created_at
        if note.kind == "event":
            bands.append(Band(at, at, note.title, _tone(note.severity)))
        elif note.kind == "firing":
            open_[key] = (at, note.severity, note.title)
        elif note.kind in ("escalated", "deescalated", "resolved") and key in open_:
            start, severity, title = open_.pop(key)
            bands.append(Band(start, at, title, _tone(severity)))
            if note.kind != "resolved":
                open_[key] = (at, note.severity, note.title)
    for alert in firing:
        kept = open_.pop(alert.key, None)
        start = kept[0] if kept else alert.started_at or since
        label = kept[2] if kept else f"[{alert.severity.label.upper()}] {alert.summary}"
        bands.append(Band(start, None, label, _tone(alert.severity)))
    return sorted(bands, key=lambda b: b.start)


def silence_bands(silences: Iterable[Silence], account: str) -> list[Band]:
    return [
        Band(s.starts_at, s.ends_at, f"silenced {s.rule or 'all rules'}: {s.reason}", "silence")
        for s in silences
        if s.account in (account, "*")
    ]


def _tone(severity: Severity) -> str:
    return "critical" if severity >= Severity.CRITICAL else "warning"


@dataclass(frozen=True, slots=True)
class Amount:
    """One amount of the latest poll, as shown."""

    currency: str
    kind: str
    text: str


def amounts(snap: Snapshot | None, kinds: Sequence[str] | None = None) -> list[Amount]:
    if snap is None:
        return []
    found = []
    for currency, balance in sorted(snap.balances.items()):
        for kind in kinds or ("available", "pending", "held", "total"):
            value = balance.kind(kind)
            if value is not None:
                found.append(Amount(currency, kind, format_amount(value, currency)))
    return found


def age_text(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "never"
    seconds = max(0, int((now - at).total_seconds()))
    return "just now" if seconds < 2 else f"{format_duration(timedelta(seconds=seconds))} ago"
