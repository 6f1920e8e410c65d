"""Message text: a pure function from a lifecycle transition to a Notification.

Every message says what, where, how much, compared with what, and what next::

    [CRITICAL] oneclick-main: available 950.00 DZD is below 1,000.00 DZD
    (was 1,420.00 DZD 2 min ago; ~9 h left at the current rate)

Resolved messages say how long the problem lasted. Amounts are formatted from Decimals
(thousands separators, the currency's usual places), never through float. The short id at
the end is stable for the notification, so a duplicate delivery can be recognised.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from balancewatch.alerts import Transition
from balancewatch.model import BALANCE_KINDS, Severity, Snapshot
from balancewatch.records import Notification
from balancewatch.units import format_amount, format_duration

NEXT_STEP = {
    "threshold": "top up the account",
    "runway": "top up before it runs out, or check what is spending faster than usual",
    "change": "check the account's recent transactions",
    "held_increase": "check escrows, disputes or in-progress tasks holding the funds",
    "auth": "check the API key or secret in the config, then reload (SIGHUP)",
    "unreachable": "check the provider's status page and this host's network",
}


@dataclass(frozen=True, slots=True)
class Where:
    """The account a message is about."""

    account: str
    provider: str
    tags: tuple[str, ...] = ()


def notification_id(account: str, key: str, kind: str, at: datetime) -> str:
    digest = hashlib.sha256(f"{account}|{key}|{kind}|{at.isoformat()}".encode())
    return digest.hexdigest()[:10]


def render(
    transition: Transition,
    where: Where,
    *,
    now: datetime,
    poll_id: str,
    snapshot: Snapshot | None = None,
) -> Notification:
    """Title, body and template fields for one transition."""
    state = transition.state
    nid = notification_id(where.account, state.key, transition.kind, now)
    headline = _headline(transition, snapshot)
    label = "RESOLVED" if transition.kind == "resolved" else state.severity.name
    title = f"[{label}] {where.account}: {headline}"
    body_lines = [title + _context(transition, now)]
    if transition.kind != "resolved":
        body_lines.append(f"Next: {NEXT_STEP.get(state.rule_type, 'have a look')}.")
    body_lines.append(
        f"Account {where.account} ({where.provider}), rule {state.rule}"
        + (f", {state.currency}" if state.currency else "")
        + f" · {_kind_word(transition)} · id {nid}"
    )
    return Notification(
        id=nid,
        account=where.account,
        alert_key=state.key,
        kind=transition.kind,
        severity=state.severity,
        title=title,
        body="\n".join(body_lines),
        created_at=now,
        poll_id=poll_id,
        fields=_fields(transition, where, nid, headline),
        tags=where.tags,
    )


def _headline(transition: Transition, snapshot: Snapshot | None) -> str:
    state = transition.state
    if transition.kind != "resolved":
        return state.summary
    lasted = f" after {format_duration(transition.lasted)}" if transition.lasted else ""
    if state.rule_type in ("auth", "unreachable"):
        what = "credentials accepted again" if state.rule_type == "auth" else "reachable again"
        return f"{what}{lasted}"
    now_text = ""
    balance = snapshot.balances.get(state.currency) if snapshot and state.currency else None
    kind = state.summary.split(" ", 1)[0]  # threshold and runway summaries start with it
    value = balance.kind(kind) if balance is not None and kind in BALANCE_KINDS else None
    if value is not None:
        now_text = f"; {kind} now {format_amount(value, state.currency)}"
    return f"{state.rule} back to normal{lasted}{now_text} (was: {state.summary})"


def _context(transition: Transition, now: datetime) -> str:
    """The trend in brackets: previous value and age, and the runway where known."""
    condition = transition.condition
    if condition is None or condition.kind == "event":
        return ""
    parts: list[str] = []
    if condition.previous is not None and condition.previous_at is not None:
        ago = format_duration(now - condition.previous_at)
        parts.append(f"was {format_amount(condition.previous, condition.currency)} {ago} ago")
    if condition.runway_seconds is not None and condition.rule_type != "runway":
        parts.append(f"~{format_duration(condition.runway_seconds)} left at the current rate")
    return f" ({'; '.join(parts)})" if parts else ""


def _kind_word(transition: Transition) -> str:
    words = {
        "firing": "new",
        "escalated": "got worse",
        "deescalated": "eased but still firing",
        "repeat": "still firing",
        "resolved": "resolved",
        "event": "event",
        "system": "system",
    }
    return words[transition.kind]


def _fields(transition: Transition, where: Where, nid: str, summary: str) -> dict[str, str]:
    state, condition = transition.state, transition.condition
    currency = state.currency

    def amount(value: object) -> str:
        return format_amount(value, currency) if isinstance(value, Decimal) else ""

    runway = condition.runway_seconds if condition else None
    return {
        "account": where.account,
        "provider": where.provider,
        "severity": "resolved" if transition.kind == "resolved" else state.severity.label,
        "rule": state.rule,
        "currency": currency or "",
        "kind": (condition.balance_kind or "") if condition else "",
        "amount": amount(condition.value if condition else state.value),
        "threshold": amount(condition.threshold if condition else state.threshold),
        "previous": amount(condition.previous if condition else None),
        "runway": format_duration(runway) if runway is not None else "",
        "duration": format_duration(transition.lasted or timedelta(0)),
        "summary": summary,
        "status": transition.kind,
        "id": nid,
        "count": "1",
        "tags": ",".join(where.tags),
        # the episode an acknowledgement link names (compose.ack_links)
        "started": state.started_at.isoformat() if state.started_at else "",
    }


def system_notification(
    title: str, body: str, *, now: datetime, severity: Severity
) -> Notification:
    """A message about balancewatch itself (state reset, giving up on a channel)."""
    nid = notification_id("balancewatch", "system", title, now)
    return Notification(
        id=nid,
        account="balancewatch",
        alert_key="system:*",
        kind="system",
        severity=severity,
        title=f"[{severity.name}] balancewatch: {title}",
        body=f"[{severity.name}] balancewatch: {title}\n{body}\nid {nid}",
        created_at=now,
        poll_id=f"system-{nid}",
        fields={"summary": title, "severity": severity.label, "id": nid, "status": "system"},
    )
