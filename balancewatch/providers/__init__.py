"""Providers: reading a balance API. This package's namespace is the plugin API.

A provider is one module: a ``Settings`` model for its own config keys (credentials as
``SecretStr``), a class with a registered ``name``, a default ``base_url``, and two pure
methods, ``build_request(now) -> Request`` and ``parse(data) -> {currency: Balance}``.
Sending, deadlines, byte caps, strict JSON, errors and redaction are done for every
provider in one place (``_http/``), so a provider never touches the network::

    from balancewatch.providers import Balance, Provider, Request, register, require_amount

    @register
    class Acme(Provider):
        name = "acme"
        default_base_url = "https://api.acme.example"

        def build_request(self, now):
            key = self.settings.api_key.get_secret_value()
            return Request("GET", f"{self.base_url}/v1/balance", {"X-Api-Key": key})

        def parse(self, data):
            return {"EUR": Balance(available=require_amount(data, "balance"))}

Built-in providers are written exactly so (``dhmad.py`` is the shortest); a third-party one
registers under the ``balancewatch.providers`` entry-point group. CONTRIBUTING.md walks
through adding one, with its test.

The names below are the whole public surface (``tests/providers/test_api.py`` holds it);
modules whose names start with ``_`` are balancewatch's own and may change.
"""

from balancewatch.model import (
    AuthError,
    Balance,
    MalformedResponse,
    ProviderError,
    RateLimited,
    TransientError,
)
from balancewatch.providers._http.fetch import Client, classify_error, fetch, make_client
from balancewatch.providers.base import (
    ApiKeySettings,
    Provider,
    ProviderSettings,
    Request,
    check_header_value,
    check_http_url,
    get_provider,
    register,
    registry,
)
from balancewatch.providers.reading import (
    ErrorDetails,
    amount_at,
    currency_key,
    generic_error_details,
    printable,
    require_amount,
    require_object,
    value_at,
)

__all__ = [
    "ApiKeySettings",
    "AuthError",
    "Balance",
    "Client",
    "ErrorDetails",
    "MalformedResponse",
    "Provider",
    "ProviderError",
    "ProviderSettings",
    "RateLimited",
    "Request",
    "TransientError",
    "amount_at",
    "check_header_value",
    "check_http_url",
    "classify_error",
    "currency_key",
    "fetch",
    "generic_error_details",
    "get_provider",
    "make_client",
    "printable",
    "register",
    "registry",
    "require_amount",
    "require_object",
    "value_at",
]
