"""TheDex (app.thedex.cloud), crypto gateway: one balance per pay currency (``BTC_BITCOIN``).

Requests are signed like Bitfinex v1, with SHA-512: the body
``{"request": "/api/v1/balances", "nonce": "<ms>"}`` is serialized once, sent as is,
base64-encoded into ``X-EX-PAYLOAD``, and ``X-EX-SIGNATURE`` is the lowercase hex
HMAC-SHA512 of that base64 text keyed with the secret. Amounts come as strings.

The answer is most likely a list of single-currency maps; one dict keyed by currency is
accepted too, and a currency listed twice (one map per merchant) is summed. An entry with
none of the three amounts (null ones included) is not a balance and is skipped; an answer
with entries but no balance at all is malformed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from pydantic import Field, SecretStr

from balancewatch.providers import (
    ApiKeySettings,
    Balance,
    MalformedResponse,
    Provider,
    Request,
    amount_at,
    currency_key,
    register,
)

BALANCES_PATH = "/api/v1/balances"


class TheDexSettings(ApiKeySettings):
    secret: SecretStr = Field(min_length=1)


def sign(body: bytes, secret: str) -> tuple[str, str]:
    """``(X-EX-PAYLOAD, X-EX-SIGNATURE)`` for the exact body bytes."""
    payload = base64.b64encode(body).decode("ascii")
    digest = hmac.new(secret.encode("utf-8"), payload.encode("ascii"), hashlib.sha512)
    return payload, digest.hexdigest()


@register
class TheDex(Provider):
    name = "thedex"
    default_base_url = "https://app.thedex.cloud"
    Settings = TheDexSettings

    _last_nonce = 0  # process-wide: the nonce must never go backwards for one key

    def build_request(self, now: datetime) -> Request:
        settings: TheDexSettings = self.settings  # type: ignore[assignment]
        nonce = max(int(now.timestamp() * 1000), TheDex._last_nonce + 1)
        TheDex._last_nonce = nonce
        body = json.dumps(
            {"request": BALANCES_PATH, "nonce": str(nonce)}, separators=(",", ":")
        ).encode()
        payload, signature = sign(body, settings.secret.get_secret_value())
        headers = {
            "X-EX-APIKEY": settings.api_key.get_secret_value(),
            "X-EX-PAYLOAD": payload,
            "X-EX-SIGNATURE": signature,
            "Content-Type": "application/json",
            "Accept": "*/*",
        }
        return Request("POST", f"{self.base_url}{BALANCES_PATH}", headers, body)

    def parse(self, data: Any) -> dict[str, Balance]:
        maps = data if isinstance(data, list) else [data]
        if not all(isinstance(m, dict) for m in maps):
            raise MalformedResponse("expected a list of {currency: balance} maps")
        found: dict[str, Balance] = {}
        for entry in maps:
            for key, fields in entry.items():
                balance = _balance(fields)
                if balance is not None:
                    currency = currency_key(key, "a currency key")
                    found[currency] = found[currency] + balance if currency in found else balance
        if not found and maps and any(maps):
            raise MalformedResponse("no currency balance in the answer")
        return found


def _balance(fields: Any) -> Balance | None:
    """One entry's balance; ``None`` for an entry that is not a balance (no amount in it)."""
    if not isinstance(fields, dict):
        return None
    balance = Balance(
        available=amount_at(fields, "availableBalance"),
        held=amount_at(fields, "holdBalance"),
        total=amount_at(fields, "totalBalance"),
    )
    if balance == Balance():
        return None
    return balance.with_derived_total()
