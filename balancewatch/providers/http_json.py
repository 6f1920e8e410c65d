"""``http_json``: any JSON balance API, described in config instead of code.

    provider: http_json
    url: https://api.example.com/v1/wallet?key=${EXAMPLE_KEY}
    method: GET                      # or POST, with `body:` sent as JSON
    headers: {Authorization: "Bearer ${EXAMPLE_TOKEN}"}
    available: data.balance          # dotted paths; list items by index: data.wallets.0.free
    held: data.on_hold
    currency: EUR                    # fixed, or currency_path: data.currency

Header values are credentials (redacted everywhere), and so are the URL's password and
its query values of 8 characters or more (``?key=...``), but not its path, which is words
(``Provider.secrets`` collects them, as for any http(s) URL in a provider's settings). A
status >= 400 maps to the typed errors as for every provider; ``error_path``, when set and
present and truthy in a 2xx body, marks the answer as an error too. A path step that is an
integer (``-1`` too) indexes a list.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cached_property
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from balancewatch.providers import (
    Balance,
    MalformedResponse,
    Provider,
    ProviderSettings,
    Request,
    TransientError,
    amount_at,
    check_header_value,
    check_http_url,
    currency_key,
    printable,
    register,
    value_at,
)

PATH_KINDS = ("available", "pending", "held", "total")
_INDEX = re.compile(r"-?[0-9]+")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


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
        return check_http_url(value)

    @field_validator("headers")
    @classmethod
    def _sendable_headers(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, header in value.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name[:40]!r} is not a header name (letters, digits, -)")
            try:
                check_header_value(header)
            except ValueError as exc:
                raise ValueError(f"header {name[:40]!r}: {exc}") from None
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
    """``data.wallets.0.free`` -> ``("data", "wallets", 0, "free")``."""
    return tuple(int(p) if _INDEX.fullmatch(p) else p for p in path.split("."))


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

    @cached_property
    def host(self) -> str:
        settings: HttpJsonSettings = self.settings  # type: ignore[assignment]
        return urlsplit(settings.url).netloc

    def parse(self, data: Any) -> dict[str, Balance]:
        settings: HttpJsonSettings = self.settings  # type: ignore[assignment]
        if settings.error_path and _at(data, settings.error_path) not in (None, False, "", 0):
            said = printable(str(_at(data, settings.error_path))[:200])
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
            currency = currency_key(_at(data, settings.currency_path), settings.currency_path)
        return {currency or "UNITS": Balance(**amounts).with_derived_total()}


def _at(data: Any, path: str) -> Any:
    return value_at(data, split_path(path))
