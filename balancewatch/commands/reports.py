"""Text, JSON and CSV views of the store for ``status`` and ``history``. Pure formatting."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from balancewatch.model import BALANCE_KINDS, Snapshot
from balancewatch.records import AlertState, Health, Silence
from balancewatch.state import Cluster, Store
from balancewatch.units import format_amount, format_duration, plain_decimal


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dec(value: Decimal | None) -> str | None:
    """The JSON/CSV form of an amount, the same as ``check --json`` writes."""
    return None if value is None else plain_decimal(value)


def status_data(store: Store, accounts: Sequence[str], now: datetime) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data (the JSON form)."""
    rows = []
    for name in accounts:
        snap = store.last_snapshot(name)
        health = store.health(name)
        rows.append(
            {
                "account": name,
                "last_ok_at": _iso(snap.taken_at if snap else None),
                "age_seconds": int((now - snap.taken_at).total_seconds()) if snap else None,
                "balances": _balances(snap),
                "failures": health.consecutive_failures if health else 0,
                "last_error": health.last_error if health and health.consecutive_failures else None,
                "next_poll_not_before": _iso(health.not_before if health else None),
            }
        )
    return {
        "accounts": rows,
        "firing": [_alert(a) for a in store.firing_alerts()],
        "silences": [_silence(s) for s in store.silences(now)],
        "outbox_depth": store.outbox_depth(),
        "last_reload_ok": store.get_meta("last_reload_ok"),
        **daemons_data(store.cluster()),
    }


SILENT_AFTER = 30
"""Seconds without a heartbeat after which ``status`` calls a daemon silent (a live one
beats every 1-5 s)."""
SHOWN_HELD = 8


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
                "started_at": _iso(member.started_at),
                "last_heartbeat": _iso(member.last_heartbeat),
                "heartbeat_age_seconds": round(max(age, 0.0), 1),
                "silent": age > SILENT_AFTER,
                "holds": cluster.held_by(member.id),
            }
        )
    live = {d["config_hash"] for d in daemons if not d["silent"]}
    return {"daemons": daemons, "config_mismatch": len(live) > 1}


def daemons_text(data: dict[str, Any]) -> list[str]:
    lines = ["DAEMONS" if data["daemons"] else "DAEMONS: none running"]
    for d in data["daemons"]:
        age = format_duration(timedelta(seconds=round(d["heartbeat_age_seconds"])))
        seen = f"silent for {age}" if d["silent"] else f"heartbeat {age} ago"
        held = d["holds"]
        names = ", ".join(held[:SHOWN_HELD]) + (", ..." if len(held) > SHOWN_HELD else "")
        lines.append(
            f"  {d['host']}:{d['pid']}: {seen}, config {d['config_hash']}, "
            f"holds {len(held)} account(s){': ' + names if held else ''}"
        )
    if data["config_mismatch"]:
        lines.append(
            "CONFIG MISMATCH: the running daemons have different configs; each shares the "
            "accounts only with those running its own (reload them all)"
        )
    return lines


def _balances(snap: Snapshot | None) -> dict[str, dict[str, str | None]]:
    if snap is None:
        return {}
    return {
        cur: {kind: _dec(bal.kind(kind)) for kind in BALANCE_KINDS}
        for cur, bal in sorted(snap.balances.items())
    }


def _alert(a: AlertState) -> dict[str, Any]:
    return {
        "account": a.account,
        "rule": a.rule,
        "currency": a.currency,
        "severity": a.severity.label,
        "since": _iso(a.started_at),
        "summary": a.summary,
        "notified": a.notified_severity is not None,
    }


def _silence(s: Silence) -> dict[str, Any]:
    return {
        "id": s.id,
        "account": s.account,
        "rule": s.rule,
        "until": _iso(s.ends_at),
        "reason": s.reason,
    }


def status_text(data: dict[str, Any], now: datetime) -> str:
    lines = ["ACCOUNTS"]
    for row in data["accounts"]:
        age = (
            f"{format_duration(row['age_seconds'])} ago"
            if row["age_seconds"] is not None
            else "never"
        )
        state = (
            f", {row['failures']} failed poll(s): {row['last_error']}" if row["failures"] else ""
        )
        lines.append(f"  {row['account']}: last read {age}{state}")
        for cur, kinds in row["balances"].items():
            shown = [
                f"{k} {format_amount(Decimal(v), cur)}" for k, v in kinds.items() if v is not None
            ]
            lines.append(f"    {cur}: {', '.join(shown)}")
    lines.append("FIRING" if data["firing"] else "FIRING: none")
    for a in data["firing"]:
        since = datetime.fromisoformat(a["since"]) if a["since"] else now
        muted = "" if a["notified"] else " (not notified: silenced or pending delivery)"
        lines.append(
            f"  [{a['severity'].upper()}] {a['account']} {a['rule']}: {a['summary']} "
            f"(for {format_duration(now - since)}){muted}"
        )
    lines.append("SILENCES" if data["silences"] else "SILENCES: none")
    for s in data["silences"]:
        rule = f" rule {s['rule']}" if s["rule"] else " all rules"
        lines.append(f"  #{s['id']} {s['account']}{rule} until {s['until']}: {s['reason']}")
    lines.append(f"OUTBOX: {data['outbox_depth']} delivery(ies) waiting")
    lines += daemons_text(data)
    if data["last_reload_ok"] == "0":
        lines.append("LAST RELOAD FAILED: the daemon runs the previous config (see the log)")
    return "\n".join(lines)


def history_rows(snapshots: Sequence[Snapshot]) -> list[dict[str, str | None]]:
    """One row per (poll, currency), amounts as exact decimal strings."""
    return [
        {
            "taken_at": snap.taken_at.isoformat(),
            "currency": cur,
            **{kind: _dec(bal.kind(kind)) for kind in BALANCE_KINDS},
        }
        for snap in snapshots
        for cur, bal in sorted(snap.balances.items())
    ]


def history_csv(snapshots: Sequence[Snapshot]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, ["taken_at", "currency", *BALANCE_KINDS], lineterminator="\n")
    writer.writeheader()
    writer.writerows(history_rows(snapshots))
    return out.getvalue()


def history_json(snapshots: Sequence[Snapshot]) -> str:
    return json.dumps(history_rows(snapshots), indent=2)


def history_text(account: str, snapshots: Sequence[Snapshot]) -> str:
    if not snapshots:
        return f"no recorded polls of {account} in that period"
    lines = []
    for row in history_rows(snapshots):
        cur = row["currency"] or ""
        shown = [
            f"{k} {format_amount(Decimal(v), cur)}"
            for k in BALANCE_KINDS
            if (v := row[k]) is not None
        ]
        lines.append(f"{row['taken_at']}  {cur}: {', '.join(shown)}")
    return "\n".join(lines)


def health_line(h: Health) -> str:
    return f"{h.account}: {h.consecutive_failures} failure(s), last error {h.last_error}"
