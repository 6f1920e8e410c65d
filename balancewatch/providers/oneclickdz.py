"""OneClickDz v3 (api.oneclickdz.com), Flexy API, Algeria: one available balance in DZD.

A success needs ``success: true`` *and* ``data``; ``success: false`` carries
``error.code``/``error.message``. Several bad keys lock the whole IP for about 15 minutes,
so every credential code below is an :class:`AuthError` (never retried in a loop).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from balancewatch.providers import (
    Balance,
    MalformedResponse,
    Provider,
    Request,
    amount_at,
    classify_error,
    register,
    require_object,
)


@register
class OneClickDz(Provider):
    name = "oneclickdz"
    default_base_url = "https://api.oneclickdz.com"
    auth_codes = frozenset(
        {
            "MISSING_ACCESS_TOKEN",
            "INVALID_ACCESS_TOKEN",
            "ERR_AUTH",
            "IP_BLOCKED",
            "IP_NOT_ALLOWED",
            "API_DISABLED",
        }
    )

    def build_request(self, now: datetime) -> Request:
        key = self.settings.api_key.get_secret_value()  # type: ignore[attr-defined]
        return Request(
            "GET",
            f"{self.base_url}/v3/account/balance",
            {"X-Access-Token": key, "Accept": "application/json"},
        )

    def parse(self, data: Any) -> dict[str, Balance]:
        if isinstance(data, dict) and data.get("success") is False:
            raise classify_error(self, 200, data)
        if not isinstance(data, dict) or data.get("success") is not True:
            raise MalformedResponse("expected 'success': true")
        require_object(data, "data")
        available = amount_at(data, "data", "balance")
        if available is None:
            raise MalformedResponse("data.balance is missing")
        return {self.currency or "DZD": Balance(available=available, total=available)}
