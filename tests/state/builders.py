"""Records for the store tests: a snapshot, an alert, a notification, a poll's record."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from balancewatch.model import Balance, Severity, Snapshot
from balancewatch.records import AlertState, Delivery, Health, Notification, PollRecord

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def snapshot(account: str, at: datetime, **balances: Balance) -> Snapshot:
    return Snapshot(account, at, balances or {"DZD": Balance(available=Decimal("100"))})


def alert(account: str = "acme", key: str = "low:DZD", **changes: object) -> AlertState:
    base = AlertState(
        account=account,
        key=key,
        rule="low",
        rule_type="threshold",
        currency="DZD",
        kind="state",
        status="firing",
        severity=Severity.WARNING,
        summary="available 950 DZD is below 1000 DZD",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def notification(nid: str, at: datetime = T0, account: str = "acme") -> Notification:
    return Notification(
        id=nid,
        account=account,
        alert_key="low:DZD",
        kind="firing",
        severity=Severity.WARNING,
        title=f"[WARNING] {account}",
        body="available is low",
        created_at=at,
        poll_id=f"poll-{nid}",
        fields={"amount": "950.00", "currency": "DZD"},
        tags=("finance", "dz"),
    )


def poll(
    account: str = "acme",
    at: datetime = T0,
    *,
    snap: Snapshot | bool | None = True,
    alerts: tuple[AlertState, ...] = (),
    notifications: tuple[Notification, ...] = (),
    deliveries: tuple[Delivery, ...] = (),
    fence: int | None = None,
) -> PollRecord:
    taken = snapshot(account, at) if snap is True else (snap or None)
    health = Health(account, last_ok_at=at if taken else None, last_poll_at=at)
    return PollRecord(account, at, taken, health, alerts, notifications, deliveries, fence)
