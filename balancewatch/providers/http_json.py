"""``http_json``: any JSON balance API, described in config instead of code.

    provider: http_json
    url: https://api.example.com/v1/wallet?key=${EXAMPLE_KEY}
    method: GET                      # or POST, with `body:` sent as JSON
    headers: {Authorization: "Bearer ${EXAMPLE_TOKEN}"}
    available: data.balance          # dotted paths; list items by index: data.wallets.0.free
    held: data.on_hold
    currency: EUR                    # fixed, or currency_path: data.currency

Header values are credentials (redacted everywhere). A status >= 400 maps to the typed
errors as for every provider; ``error_path``, when set and present and truthy in a 2xx
body, marks the answer as an error too.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from balancewatch.model import Balance, MalformedResponse, TransientError
from balancewatch.providers.base import (
    Provider,
    ProviderSettings,
    Request,
    amount_at,
    register,
    value_at,
)

PATH_KINDS = ("available", "pending", "held", "total")


class HttpJsonSettings(ProviderSettings):
    url: str
    method: Literal["GET", "POST", "PUT"] = "GET"
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    body: Any = None
    available: str | None = None
    pending: str | None = None
    held: str | None = None
    total: str | None = None
    currency_path: str | None = None
    error_path: str | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("available", "pending", "held", "total", "currency_path", "error_path")
    @classmethod
    def _dotted(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or ".." in value or value.startswith(".")):
            raise ValueError(f"{value!r} is not a dotted path such as data.balance")
        return value

    @model_validator(mode="after")
    def _some_amount(self) -> HttpJsonSettings:
        if not any(getattr(self, kind) for kind in PATH_KINDS):
            raise ValueError("give at least one path: available, pending, held or total")
        return self


def split_path(path: str) -> tuple[str | int, ...]:
    return tuple(int(p) if p.lstrip("-").isdigit() else p for p in path.split("."))


@register
class HttpJson(Provider):
    name = "http_json"
    Settings = HttpJsonSettings

    def build_request(self, now: datetime) -> Request:
        settings: HttpJsonSettings = self.settings  # type: ignore[assignment]
        headers = {k: v.get_secret_value() for k, v in settings.headers.items()}
        headers.setdefault("Accept", "application/json")
        content = None
        if settings.body is not None:
            content = json.dumps(settings.body, default=str).encode()
            headers.setdefault("Content-Type", "application/json")
        return Request(settings.method, settings.url, headers, content)

    def secrets(self) -> list[str]:
        settings: HttpJsonSettings = self.settings  # type: ignore[assignment]
        return [v.get_secret_value() for v in settings.headers.values() if v.get_secret_value()]

    def parse(self, data: Any) -> dict[str, Balance]:
        settings: HttpJsonSettings = self.settings  # type: ignore[assignment]
        if settings.error_path and _at(data, settings.error_path) not in (None, False, "", 0):
            said = str(_at(data, settings.error_path))[:200]
            raise TransientError(f"the answer reports an error at {settings.error_path}: {said}")
        amounts = {
            kind: amount_at(data, *split_path(path))
            for kind in PATH_KINDS
            if (path := getattr(settings, kind))
        }
        if all(v is None for v in amounts.values()):
            raise MalformedResponse("none of the configured paths is in the answer")
        currency = self.currency
        if settings.currency_path:
            found = _at(data, settings.currency_path)
            if not isinstance(found, str) or not found.strip():
                raise MalformedResponse(f"no currency at {settings.currency_path}")
            currency = found.strip()
        return {currency or "UNITS": Balance(**amounts).with_derived_total()}


def _at(data: Any, path: str) -> Any:
    return value_at(data, split_path(path))
