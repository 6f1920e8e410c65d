"""Dhmad (dhmad.tn), escrow platform, Tunisia: available, pending and escrow (held).

The balance carries no currency; the ledger is in TND, so TND is the default and the
account's ``currency`` overrides it. 429 answers put ``retryAfter`` (seconds) in the body.
An answer without ``balance.available`` is malformed: the amount every rule needs by
default must not quietly be "unknown" on a poll reported as fine.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from balancewatch.providers import (
    Balance,
    Provider,
    Request,
    amount_at,
    register,
    require_amount,
    require_object,
)


@register
class Dhmad(Provider):
    name = "dhmad"
    default_base_url = "https://dhmad.tn"

    def build_request(self, now: datetime) -> Request:
        key = self.settings.api_key.get_secret_value()  # type: ignore[attr-defined]
        return Request(
            "GET",
            f"{self.base_url}/api/v1/balance",
            {"Authorization": f"Bearer {key}", "Accept": "application/json"},
        )

    def parse(self, data: Any) -> dict[str, Balance]:
        require_object(data, "balance")
        balance = Balance(
            available=require_amount(data, "balance", "available"),
            pending=amount_at(data, "balance", "pending"),
            held=amount_at(data, "balance", "escrow"),
        )
        return {self.currency or "TND": balance.with_derived_total()}
