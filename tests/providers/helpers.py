"""What the per-provider test files share besides ``tests/conftest.py``'s fixtures.

Amounts are compared as exact Decimals and, where the scale carries meaning, as their
text: a float never touches money.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from balancewatch.model import Balance, Snapshot

Poll = Callable[..., Snapshot]
"""The ``poll`` fixture: one real fetch over a real client."""

ProviderFor = Callable[..., Any]
"""The ``provider_for`` fixture: a provider aimed at the simulator."""


def kinds(balance: Balance) -> tuple[str | None, ...]:
    """The four kinds as text, so that the scale the provider sent is checked too."""
    return tuple(
        None if v is None else str(v)
        for v in (balance.available, balance.pending, balance.held, balance.total)
    )


def assert_exact(balance: Balance) -> None:
    """Every reported kind is a finite Decimal (never a float, never NaN)."""
    for value in (balance.available, balance.pending, balance.held, balance.total):
        assert value is None or (type(value) is Decimal and value.is_finite())
