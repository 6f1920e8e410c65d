"""Sunor (sunor.cc), AI music credits: available, frozen (held) and total, in CREDITS.

``code`` in the body mirrors the HTTP status; a 200 whose body says otherwise is an error.
An answer without ``data.available`` is malformed, not a balance of unknown amount.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from balancewatch.providers import (
    Balance,
    Provider,
    Request,
    amount_at,
    classify_error,
    register,
    require_amount,
    require_object,
)


@register
class Sunor(Provider):
    name = "sunor"
    default_base_url = "https://sunor.cc"

    def build_request(self, now: datetime) -> Request:
        key = self.settings.api_key.get_secret_value()  # type: ignore[attr-defined]
        return Request(
            "GET",
            f"{self.base_url}/api/v1/account/balance",
            {"x-api-key": key, "Accept": "application/json"},
        )

    def parse(self, data: Any) -> dict[str, Balance]:
        code = amount_at(data, "code")
        if code is not None and code != 200:
            raise classify_error(self, int(code) if 100 <= code < 600 else 502, data)
        require_object(data, "data")
        balance = Balance(
            available=require_amount(data, "data", "available"),
            held=amount_at(data, "data", "frozen"),
            total=amount_at(data, "data", "total"),
        )
        return {self.currency or "CREDITS": balance.with_derived_total()}
