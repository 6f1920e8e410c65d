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

Built-in providers are written exactly so, importing nothing but the names below
(``dhmad.py`` is the shortest); a third-party one registers under the
``balancewatch.providers`` entry-point group. CONTRIBUTING.md walks through adding one,
with its test file.

The surface is ``__all__``, no more (``tests/providers/test_api.py`` holds it so, and
checks that each name is described here). Import it from ``balancewatch.providers``: the
modules behind it (``base``, ``reading``, the built-in providers) may move, and ``_http/``
is private by name.

Writing a provider:

- ``Provider``: the class to subclass (``name``, ``default_base_url``, ``Settings``,
  ``auth_codes``; ``build_request``, ``parse``, and ``error_details`` for odd error bodies).
- ``ProviderSettings``: the base of a ``Settings`` model (frozen, unknown keys refused,
  ``base_url``).
- ``ApiKeySettings``: the default ``Settings``: one ``api_key``, checked sendable.
- ``Request``: what ``build_request`` returns: method, URL, headers, body bytes.
- ``Balance``: one currency's amounts, by kind; ``None`` is "not reported", never 0.
- ``register``: class decorator that makes a provider known by its ``name``.
- ``check_http_url``: a settings validator for a URL key (``base_url`` already has it).
- ``check_header_value``: a settings validator for a credential sent in a header.

Reading an answer (``parse`` gets JSON decoded with every number a ``Decimal``):

- ``require_object``: the object at a key, or ``MalformedResponse``.
- ``require_amount``: the amount at a path, or ``MalformedResponse``.
- ``amount_at``: the amount at a path, ``None`` if absent.
- ``value_at``: any value at a path, ``None`` if absent.
- ``currency_key``: a currency name from the answer, checked printable and short.
- ``printable``: foreign text made one safe line, for an error message.
- ``loads_strict``: decode a body exactly as ``fetch`` does (for a provider's tests).

Errors (the tree and what each means: ``balancewatch.model``):

- ``ProviderError``: a poll gave no balance; the base of the four below.
- ``AuthError``: credentials refused; permanent, never retried in a loop.
- ``RateLimited``: too many requests, with ``retry_after``.
- ``TransientError``: timeouts, 5xx, an error reported in a 200; retried with backoff.
- ``MalformedResponse``: an answer that is not a balance.
- ``classify_error``: the typed error for a status and an error body (a 200's too).
- ``ErrorDetails``: code, message and retry hint, as ``error_details`` returns them.
- ``generic_error_details``: the default ``error_details``, to fall back on.

Running providers (balancewatch's ``config``, ``poll``, ``daemon`` and ``commands``
packages, and a provider's own tests):

- ``registry``: every provider by name, built-ins and entry points, loaded on first use.
- ``get_provider``: one provider class by name (``KeyError`` if unknown).
- ``fetch``: poll one account: request, bounded read, strict decode, typed errors.
- ``make_client``: the shared HTTP client ``fetch`` sends through.
- ``Client``: its type, a protocol (naming it imports no HTTP library).

Decisions on the surface:

- The running side is here, not in a module of its own, because the packages above may
  import nothing private of another package (``tests/test_layering.py``), and because a
  plugin's tests want exactly it: poll the provider against a local server as the daemon
  does.
- Pydantic is used, not wrapped: a ``Settings`` model is a pydantic model and imports
  ``Field``, ``SecretStr`` and ``field_validator`` from pydantic; re-exporting
  ``SecretStr`` alone would be half a facade. The rule that matters: every credential is
  a ``SecretStr`` field (or a dict of them, as ``http_json``'s headers), which is how
  ``Provider.secrets()`` finds what to redact from every error and log line; a plain
  ``str`` credential would be printed.
- Left out: ``Snapshot`` (what ``fetch`` returns; reading ``.balances`` needs no import),
  ``BUILT_IN`` (adding a built-in is a change to balancewatch, not to a plugin), the
  shared path's limits (``MAX_RESPONSE_BYTES``, ``MAX_RETRY_AFTER``) and its helpers
  (``parse_retry_after``, ``read_url``): a provider has no say in them.
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
    loads_strict,
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
    "loads_strict",
    "make_client",
    "printable",
    "register",
    "registry",
    "require_amount",
    "require_object",
    "value_at",
]
