"""Text, JSON and CSV views of the store for ``status`` and ``history``. Pure formatting.

The data itself is :mod:`balancewatch.web.data`'s, so that ``status --json`` and the page's
``/api/v1/status`` are the same by construction.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from balancewatch.model import BALANCE_KINDS, Snapshot
from balancewatch.records import Health
from balancewatch.units import format_amount, format_duration
from balancewatch.web.data import history_rows


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
        if a["acknowledged"]:
            ack = a["acknowledged"]
            lines.append(
                f"    acknowledged by {ack['by'] or 'someone with the link'} at {ack['at']}"
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


SHOWN_HELD = 8
"""Accounts named per daemon in the text form (the JSON form lists them all)."""


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
