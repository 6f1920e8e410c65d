"""What the store keeps, and the Store interface every backend implements.

The alert lifecycle (``alerts.py``) works on these plain records; only ``state.py``
(SQLite today, PostgreSQL possibly later) knows how they are stored. One poll's results
(snapshot, health, alert changes, notifications with their deliveries) are written by one
call, :meth:`Store.commit_poll`, in one transaction: that is what makes the outbox lose
nothing across a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

from balancewatch.model import Severity, Snapshot

AlertStatus = Literal["pending", "firing", "resolved"]
NotificationKind = Literal[
    "firing", "escalated", "deescalated", "repeat", "resolved", "event", "system"
]


@dataclass(frozen=True, slots=True)
class AlertState:
    """The lifecycle of one alert key (account, rule, currency), as stored."""

    account: str
    key: str
    rule: str
    rule_type: str
    currency: str | None
    kind: Literal["state", "event"]
    status: AlertStatus
    severity: Severity
    summary: str
    consecutive: int = 0
    """Polls in a row the condition has held (for ``for: N``)."""
    started_at: datetime | None = None
    """When it started firing (for "lasted 3 h" on resolve)."""
    last_notified_at: datetime | None = None
    notified_severity: Severity | None = None
    resolved_at: datetime | None = None
    value: Decimal | None = None
    threshold: Decimal | None = None
    event_ref: datetime | None = None
    """For event alerts: the reference instant of the last reported event."""
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Health:
    """How polling an account is going."""

    account: str
    consecutive_failures: int = 0
    last_error: str | None = None
    last_error_kind: str | None = None
    last_ok_at: datetime | None = None
    last_poll_at: datetime | None = None
    not_before: datetime | None = None
    """No request before this instant (Retry-After, backoff, auth quarantine)."""
    config_hash: str | None = None
    """Fingerprint of the account's config when an auth error quarantined it."""


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to send, as written to the outbox in the poll's transaction.

    ``id`` is short and stable: it is printed in the message so a duplicate delivery can be
    recognised. ``fields`` feeds per-notifier templates.
    """

    id: str
    account: str
    alert_key: str
    kind: NotificationKind
    severity: Severity
    title: str
    body: str
    created_at: datetime
    poll_id: str
    fields: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification to one channel: the unit that is retried and marked delivered."""

    notification_id: str
    channel: str
    attempts: int = 0
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    gave_up_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """A delivery due now, joined with its notification."""

    delivery: Delivery
    notification: Notification


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    account: str
    rule: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str = ""

    def covers(self, account: str, rule: str, at: datetime) -> bool:
        if self.account not in (account, "*"):
            return False
        if self.rule is not None and self.rule not in (rule, rule.split("-", maxsplit=1)[0]):
            return False
        return self.starts_at <= at < self.ends_at


@dataclass(frozen=True, slots=True)
class PollRecord:
    """Everything one poll decided, committed atomically by :meth:`Store.commit_poll`."""

    account: str
    at: datetime
    snapshot: Snapshot | None
    health: Health
    alerts: Sequence[AlertState] = ()
    notifications: Sequence[Notification] = ()
    deliveries: Sequence[Delivery] = ()


class Store(Protocol):
    """The storage interface. Every method is synchronous and safe to call from any thread."""

    reset_reason: str | None
    """Set when the store had to start empty (corrupt file moved aside)."""

    def close(self) -> None: ...

    # polls
    def commit_poll(self, record: PollRecord) -> None: ...
    def commit_polls(self, records: Sequence[PollRecord]) -> None: ...
    def last_snapshot(self, account: str) -> Snapshot | None: ...
    def history(
        self, account: str, since: datetime, until: datetime | None = None
    ) -> list[Snapshot]: ...
    def accounts(self) -> list[str]: ...
    def health(self, account: str) -> Health | None: ...
    def all_health(self) -> list[Health]: ...
    def prune(self, before: datetime) -> int: ...

    # alerts
    def alert_states(self, account: str) -> dict[str, AlertState]: ...
    def firing_alerts(self) -> list[AlertState]: ...

    # silences
    def add_silence(
        self, account: str, rule: str | None, starts_at: datetime, ends_at: datetime, reason: str
    ) -> Silence: ...
    def silences(self, at: datetime | None = None) -> list[Silence]: ...
    def lift_silence(self, silence_id: int, at: datetime) -> bool: ...

    # outbox
    def enqueue(
        self, notifications: Sequence[Notification], deliveries: Sequence[Delivery]
    ) -> None: ...
    def due_deliveries(self, now: datetime, limit: int = 100) -> list[PendingDelivery]: ...
    def mark_delivered(self, notification_id: str, channel: str, at: datetime) -> None: ...
    def mark_failed(
        self, notification_id: str, channel: str, error: str, next_attempt_at: datetime
    ) -> None: ...
    def mark_gave_up(
        self, notification_id: str, channel: str, error: str, at: datetime
    ) -> None: ...
    def outbox_depth(self) -> int: ...
    def recent_notifications(self, limit: int = 20) -> list[Notification]: ...

    # key/value for small daemon facts (last reload ok, schema info)
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
