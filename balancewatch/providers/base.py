"""What a provider is, and the registry of providers by name.

A provider is small (see ``dhmad.py``): a ``Settings`` model (its own config keys and
credentials), a ``name``, a default ``base_url``, a pure ``build_request(now)`` and a pure
``parse(body) -> {currency: Balance}``. Everything that talks to the network is in
``_http/fetch.py``, and answers are read with ``reading.py``, so every provider gets the
same protections (deadline, byte cap, strict JSON, typed and redacted errors: see
``_http/fetch.py``'s docstring). Provider authors import all of this from
:mod:`balancewatch.providers`.
"""

from __future__ import annotations

import importlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from importlib.metadata import entry_points
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from balancewatch.model import Balance
from balancewatch.providers._http.url import InvalidUrl, read_url
from balancewatch.providers.reading import ErrorDetails, generic_error_details
from balancewatch.redaction import url_secrets


def check_http_url(value: str) -> str:
    """An absolute http(s) URL that httpx can send to; the message never repeats the URL.

    Read with :func:`~balancewatch.providers._http.url.read_url` (httpx's rules, without
    importing httpx), so loading a config does not need httpx.
    """
    try:
        url = read_url(value)
    except InvalidUrl:
        raise ValueError("not a valid URL") from None
    if url.scheme not in ("http", "https") or not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    if not url.host or any(c.isspace() for c in value):
        raise ValueError("must name a host, with no spaces (e.g. https://api.example.com)")
    if url.port is not None and not 0 < url.port < 65536:
        raise ValueError("the port must be between 1 and 65535")
    return value


def check_header_value(value: SecretStr) -> SecretStr:
    """HTTP header values are printable ASCII: a pasted key often carries an invisible
    or typographic character (a non-breaking space, an ellipsis) that httpx cannot send."""
    text = value.get_secret_value()
    if not all(" " <= c <= "~" for c in text):
        raise ValueError(
            "must be printable ASCII (look for an invisible or typographic character "
            "pasted with it, or a line break)"
        )
    return value


class ProviderSettings(BaseModel):
    """Keys every provider accepts besides the account's common ones."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str | None = None

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value)


class ApiKeySettings(ProviderSettings):
    """The settings of a provider that takes one API key (``api_key:``), sent as a header."""

    api_key: SecretStr = Field(min_length=1)

    @field_validator("api_key")
    @classmethod
    def _sendable(cls, value: SecretStr) -> SecretStr:
        return check_header_value(value)


@dataclass(frozen=True, slots=True)
class Request:
    """Everything needed to send one balance request; built by a pure function."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None


class Provider(ABC):
    """One configured account's view of a provider API."""

    name: ClassVar[str]
    default_base_url: ClassVar[str] = ""
    Settings: ClassVar[type[ProviderSettings]] = ApiKeySettings
    auth_codes: ClassVar[frozenset[str]] = frozenset()
    """Error codes in a body that mean "bad credentials" whatever the HTTP status."""

    def __init__(self, settings: ProviderSettings, *, currency: str | None = None) -> None:
        self.settings = settings
        self.currency = currency

    @property
    def base_url(self) -> str:
        return (self.settings.base_url or self.default_base_url).rstrip("/")

    @cached_property
    def host(self) -> str:
        """The host polled, for per-host concurrency limits (settings are frozen)."""
        return urlsplit(self.base_url).netloc

    def secrets(self) -> list[str]:
        """Every credential value of this account, for redaction (asked on every poll):
        each ``SecretStr`` of the settings (also inside a mapping, as headers are), and the
        password and long query values of any http(s) URL among them (``?key=...``)."""
        return list(self._secrets)

    @cached_property
    def _secrets(self) -> tuple[str, ...]:
        found: list[str] = []
        for value in self.settings.__dict__.values():
            if isinstance(value, SecretStr):
                found.append(value.get_secret_value())
            elif isinstance(value, Mapping):
                found += [v.get_secret_value() for v in value.values() if isinstance(v, SecretStr)]
            elif isinstance(value, str) and value.startswith(("http://", "https://")):
                found += sorted(url_secrets(value, path_tokens=False))
        return tuple(s for s in found if s)

    @abstractmethod
    def build_request(self, now: datetime) -> Request:
        """The request for a balance read. Pure: ``now`` is passed in."""

    @abstractmethod
    def parse(self, data: Any) -> dict[str, Balance]:
        """Balances from a decoded 2xx JSON body; raise ProviderError when it says otherwise."""

    def error_details(self, data: Any) -> ErrorDetails:
        """Code, message and retry hint from an error body. Override for odd shapes."""
        return generic_error_details(data)


# ---------------------------------------------------------------- registry

_REGISTRY: dict[str, type[Provider]] = {}
_ENTRY_POINTS_LOADED = False


def register(cls: type[Provider]) -> type[Provider]:
    """Class decorator: make a provider available by its ``name``.

    The first class registered under a name keeps it: the built-ins are registered before
    any plugin is loaded, so a plugin cannot replace one (it is skipped, with a warning).
    """
    taken = _REGISTRY.setdefault(cls.name, cls)
    if taken is not cls:
        logging.getLogger("balancewatch.providers").warning(
            "provider %s.%s is not registered: the name %r is taken by %s.%s",
            cls.__module__,
            cls.__qualname__,
            cls.name,
            taken.__module__,
            taken.__qualname__,
        )
    return cls


BUILT_IN = ("dhmad", "http_json", "oneclickdz", "sunor", "thedex")
"""The modules of ``balancewatch.providers`` that hold a provider each (they register)."""


def registry() -> Mapping[str, type[Provider]]:
    """Built-in providers plus those of the ``balancewatch.providers`` entry-point group.

    Loaded on first use: the built-ins are plugins like any other (they import the public
    API of :mod:`balancewatch.providers`), so importing that package loads none of them.
    """
    global _ENTRY_POINTS_LOADED
    if not _ENTRY_POINTS_LOADED:
        _ENTRY_POINTS_LOADED = True
        for module in BUILT_IN:
            importlib.import_module(f"balancewatch.providers.{module}")
        for ep in entry_points(group="balancewatch.providers"):
            try:
                cls = ep.load()
            except Exception as error:  # one broken plugin must not take every account down
                logging.getLogger("balancewatch.providers").warning(
                    "provider plugin %s could not be loaded: %s", ep.value, error
                )
                continue
            if isinstance(cls, type) and issubclass(cls, Provider):
                register(cls)  # a name already taken (a built-in) is kept, with a warning
    return _REGISTRY


def get_provider(name: str) -> type[Provider]:
    """The provider class registered as ``name`` (KeyError if there is none)."""
    return registry()[name]
