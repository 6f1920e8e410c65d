"""The data behind ``status --json`` and ``/api/v1/status``: one function, so they agree.

Amounts are strings in plain positional notation (:func:`balancewatch.units.plain_decimal`),
instants ISO 8601. Nothing here imports aiohttp or Jinja2: ``balancewatch status`` uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from balancewatch.model import BALANCE_KINDS, Snapshot
from balancewatch.records import Acknowledgement, AlertState, Silence
from balancewatch.state import Cluster, Store
from balancewatch.units import plain_decimal


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def dec(value: Decimal | None) -> str | None:
    """The JSON/CSV form of an amount, the same as ``check --json`` writes."""
    return None if value is None else plain_decimal(value)


def status_data(store: Store, accounts: Sequence[str], now: datetime) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data (the JSON form).

    Two queries for all accounts (latest snapshots, health), not two per account: the
    page's API serves it for 10,000 accounts. Accounts by name, as the page lists them.
    """
    accounts = sorted(accounts)
    snaps = store.last_snapshots(accounts)
    healths = {h.account: h for h in store.all_health()}
    rows = []
    for name in accounts:
        snap = snaps.get(name)
        health = healths.get(name)
        rows.append(
            {
                "account": name,
                "last_ok_at": iso(snap.taken_at if snap else None),
                "age_seconds": int((now - snap.taken_at).total_seconds()) if snap else None,
                "balances": balances(snap),
                "failures": health.consecutive_failures if health else 0,
                "last_error": health.last_error if health and health.consecutive_failures else None,
                "next_poll_not_before": iso(health.not_before if health else None),
            }
        )
    firing = store.firing_alerts()
    acks = held_acks(store.acknowledgements(), firing)
    return {
        "accounts": rows,
        "firing": [alert(a, acks.get((a.account, a.key))) for a in firing],
        "silences": [silence(s) for s in store.silences(now)],
        "outbox_depth": store.outbox_depth(),
        "last_reload_ok": store.get_meta("last_reload_ok"),
        **daemons_data(store.cluster()),
    }


SILENT_AFTER = 30
"""Seconds without a heartbeat after which a daemon is called silent (a live one beats
every 1-5 s)."""


def daemons_data(cluster: Cluster) -> dict[str, Any]:
    """The daemons sharing the state, what each holds, and whether their configs agree."""
    daemons = []
    for member in cluster.members:
        age = (cluster.now - member.last_heartbeat).total_seconds()
        daemons.append(
            {
                "id": member.id,
                "host": member.host,
                "pid": member.pid,
                "config_hash": member.config_hash,
                "started_at": iso(member.started_at),
                "last_heartbeat": iso(member.last_heartbeat),
                "heartbeat_age_seconds": round(max(age, 0.0), 1),
                "silent": age > SILENT_AFTER,
                "holds": cluster.held_by(member.id),
            }
        )
    live = {d["config_hash"] for d in daemons if not d["silent"]}
    return {"daemons": daemons, "config_mismatch": len(live) > 1}


def balances(snap: Snapshot | None) -> dict[str, dict[str, str | None]]:
    if snap is None:
        return {}
    return {
        cur: {kind: dec(bal.kind(kind)) for kind in BALANCE_KINDS}
        for cur, bal in sorted(snap.balances.items())
    }


def held_acks(
    acks: Iterable[Acknowledgement], alerts: Iterable[AlertState]
) -> dict[tuple[str, str], Acknowledgement]:
    """The acknowledgements that hold for ``alerts``, by (account, alert key)."""
    by_key = {(a.account, a.alert_key): a for a in acks}
    held = {}
    for state in alerts:
        ack = by_key.get((state.account, state.key))
        if ack is not None and ack.holds(state):
            held[state.account, state.key] = ack
    return held


def alert(a: AlertState, ack: Acknowledgement | None = None) -> dict[str, Any]:
    return {
        "account": a.account,
        "rule": a.rule,
        "currency": a.currency,
        "severity": a.severity.label,
        "since": iso(a.started_at),
        "summary": a.summary,
        "notified": a.notified_severity is not None,
        "acknowledged": {"by": ack.acked_by, "at": iso(ack.acked_at)} if ack else None,
    }


def silence(s: Silence) -> dict[str, Any]:
    return {
        "id": s.id,
        "account": s.account,
        "rule": s.rule,
        "until": iso(s.ends_at),
        "reason": s.reason,
    }


def history_rows(snapshots: Sequence[Snapshot]) -> list[dict[str, str | None]]:
    """One row per (poll, currency), amounts as exact decimal strings."""
    return [
        {
            "taken_at": snap.taken_at.isoformat(),
            "currency": cur,
            **{kind: dec(bal.kind(kind)) for kind in BALANCE_KINDS},
        }
        for snap in snapshots
        for cur, bal in sorted(snap.balances.items())
    ]
