"""What the store keeps: alert lifecycles, health, the outbox, silences, acknowledgements.

The alert lifecycle (``alerts.py``) works on these plain records; only ``state/`` knows how
they are stored (the interface every backend implements is
:class:`balancewatch.state.Store`). One poll's results (snapshot, health, alert changes,
notifications with their deliveries) are one :class:`PollRecord`, written in one
transaction: that is what makes the outbox lose nothing across a crash.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

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
    claim: int | None = None
    """The claim token from :meth:`Store.claim_deliveries`, to present when marking it
    (None: not claimed, from :meth:`Store.due_deliveries`)."""


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

    @staticmethod
    def targets(rule_ids: Iterable[str]) -> set[str]:
        """What a silence may name for rules with these ids (what :meth:`covers` matches):
        each id, its rule type, and the health alerts."""
        ids = set(rule_ids)
        return ids | {rule_id.split("-", 1)[0] for rule_id in ids} | {"auth", "unreachable"}


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """Someone has seen one episode of one alert: its reminders stop (``alerts.advance``).

    ``episode`` is the alert's ``started_at`` (a new episode needs a new acknowledgement);
    ``severity`` is the alert's when it was acknowledged. It holds only while nothing has
    been notified about the alert since: an escalation (or de-escalation) goes out, and
    from then on the reminders resume, as if it had never been acknowledged.
    """

    account: str
    alert_key: str
    episode: datetime
    severity: Severity
    acked_at: datetime
    acked_by: str = ""

    def holds(self, state: AlertState) -> bool:
        """Whether this acknowledgement quiets ``state``'s reminders now."""
        return (
            state.account == self.account
            and state.key == self.alert_key
            and state.status == "firing"
            and state.started_at == self.episode
            and state.severity == self.severity
            # Nothing is notified while it holds, so a later notification is a severity
            # change (or the same severity again after one): that clears it for good.
            and (state.last_notified_at is None or state.last_notified_at <= self.acked_at)
        )


@dataclass(frozen=True, slots=True)
class Bucket:
    """One span of time of an amount's history, for a chart: its lowest and highest amount
    and when each was read (:meth:`balancewatch.state.Store.series`)."""

    start: datetime
    polls: int
    """Polls in the span that reported the amount."""
    low: Decimal
    low_at: datetime
    high: Decimal
    high_at: datetime


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
    fence: int | None = None
    """The account's lease token this poll was made under (:meth:`Store.claim_accounts`):
    the record is written only if that token is still the account's current one. None
    writes it unconditionally (a single daemon that claims nothing)."""
