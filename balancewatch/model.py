"""The domain: balances, snapshots, severities, conditions, and every error balancewatch raises.

Amounts are :class:`decimal.Decimal` everywhere; ``None`` means "the provider does not
report this kind", never zero.

The error tree (each error knows whether it is ``permanent`` and its ``retry_after``)::

    BalancewatchError
    ├── ConfigError              the YAML is wrong; carries every problem, one line each
    ├── StateError               the state database cannot do what was asked
    │   ├── StateLocked          held by another process past the busy timeout: retry later
    │   └── LeaseLost            (state.leases) another daemon claimed the account or delivery
    └── ProviderError            a poll did not produce a balance (unknown is not zero)
        ├── AuthError            401/403, bad key or signature: permanent, never retried in a loop
        ├── RateLimited          429: retry_after seconds (from Retry-After or the body)
        ├── TransientError       timeout, connection error, 5xx, other HTTP errors: back off
        └── MalformedResponse    unparseable or unexpected body, NaN, booleans, bombs

Messages never contain credentials: providers build them from status codes and the
provider's own error text, and the fetch path redacts the account's secrets from
anything foreign before it lands in an error.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

BALANCE_KINDS: tuple[str, ...] = ("available", "pending", "held", "total")
"""The four normalized kinds, in display order."""

KIND_ALIASES: Mapping[str, str] = {"escrow": "held", "frozen": "held", "hold": "held"}
"""Provider words for held funds, accepted in config wherever a kind is named."""


class Severity(enum.IntEnum):
    """How urgent an alert is; ordered so that ``max()`` picks the worst."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.strip().upper()]


@dataclass(frozen=True, slots=True)
class Balance:
    """One currency's balance, as normalized kinds. ``None`` = not reported."""

    available: Decimal | None = None
    pending: Decimal | None = None
    held: Decimal | None = None
    total: Decimal | None = None

    def kind(self, name: str) -> Decimal | None:
        """The amount of one kind (aliases such as ``escrow`` accepted)."""
        name = KIND_ALIASES.get(name, name)
        if name not in BALANCE_KINDS:
            raise KeyError(name)
        value: Decimal | None = getattr(self, name)
        return value

    def with_derived_total(self) -> Balance:
        """Fill ``total`` as the sum of the reported kinds when the provider gives none."""
        if self.total is not None:
            return self
        parts = [v for v in (self.available, self.pending, self.held) if v is not None]
        if not parts:
            return self
        return Balance(self.available, self.pending, self.held, sum(parts, Decimal(0)))

    def __add__(self, other: Balance) -> Balance:
        """Sum kind by kind (TheDex may list a currency twice); unknown + x = x."""

        def add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
            if a is None:
                return b
            if b is None:
                return a
            return a + b

        return Balance(
            add(self.available, other.available),
            add(self.pending, other.pending),
            add(self.held, other.held),
            add(self.total, other.total),
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one successful poll saw: every currency of one account at one instant (UTC)."""

    account: str
    taken_at: datetime
    balances: Mapping[str, Balance] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.taken_at.tzinfo is None:
            raise ValueError("Snapshot.taken_at must be timezone-aware")


@dataclass(frozen=True, slots=True)
class Condition:
    """A rule's verdict on one currency: something is wrong (or happened) right now.

    ``kind`` is ``state`` for alerts that fire while the condition holds (threshold,
    runway, health) and ``event`` for one-off events (change, held_increase);
    ``event_id`` identifies an event so that it is never reported twice.
    """

    rule: str
    rule_type: str
    severity: Severity
    summary: str
    currency: str | None = None
    balance_kind: str | None = None
    value: Decimal | None = None
    threshold: Decimal | None = None
    previous: Decimal | None = None
    previous_at: datetime | None = None
    runway_seconds: float | None = None
    kind: Literal["state", "event"] = "state"
    event_id: str | None = None

    @property
    def key(self) -> str:
        """Stable per (rule, currency) within one account."""
        return f"{self.rule}:{self.currency or '*'}"


# ---------------------------------------------------------------- errors


class BalancewatchError(Exception):
    """Base of every error balancewatch raises on purpose."""

    permanent: bool = False
    retry_after: float | None = None


class ConfigError(BalancewatchError):
    """The configuration cannot be used. ``problems`` holds one line per mistake."""

    permanent = True

    def __init__(self, problems: list[str] | str, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        super().__init__("\n".join(self.problems))


class StateError(BalancewatchError):
    """The state database cannot do what was asked (unusable, or from a newer version)."""


class StateLocked(StateError):
    """Another process held the database past the busy timeout. Nothing was written."""


class ProviderError(BalancewatchError):
    """A poll failed. The balance is unknown, which is not zero."""

    kind: str = "error"

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        self.reason = reason
        if retry_after is not None:
            self.retry_after = retry_after
        super().__init__(reason)


class AuthError(ProviderError):
    """The provider rejected the credentials (401/403, bad signature). Will not fix itself."""

    kind = "auth"
    permanent = True


class RateLimited(ProviderError):
    """The provider said "too many requests" (429); ``retry_after`` is in seconds."""

    kind = "rate_limited"


class TransientError(ProviderError):
    """Timeouts, connection failures, 5xx and other HTTP errors: retried with backoff."""

    kind = "transient"


class MalformedResponse(ProviderError):
    """The answer could not be read as a balance: never treated as one."""

    kind = "malformed"
