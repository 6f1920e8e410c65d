"""What a provider is, the registry, and the one shared fetch path.

A provider is small (see ``dhmad.py``): a ``Settings`` model (its own config keys and
credentials), a ``name``, a default ``base_url``, a pure ``build_request(now)`` and a pure
``parse(body) -> {currency: Balance}``. Everything that talks to the network is here,
in :func:`fetch`, so every provider gets the same protections:

- one shared ``httpx.AsyncClient`` (connection reuse), plus an overall deadline per poll
  (``asyncio.timeout``): httpx's timeouts are per read, so a server dripping one byte a
  second would otherwise hold a poll for minutes;
- ``Accept-Encoding: identity`` and a cap on the bytes *after* decompression, so a gzip
  bomb costs at most ``max_bytes`` of memory;
- strict JSON: amounts become ``Decimal``; NaN, Infinity, absurd nesting or number
  lengths are a :class:`MalformedResponse`;
- HTTP status and provider error bodies mapped to the typed errors of ``model.py``;
- foreign error text redacted of the account's secrets, and made printable on one line,
  before it lands in an error.

:func:`fetch` lets only :class:`~balancewatch.model.ProviderError` out. A request that
cannot even be sent (an URL or header value httpx refuses; settings validation catches
these at load, this is the last line of defence) is a plain ``ProviderError``: it is not
the provider's fault, it will not fix itself, and it is not a balance.
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from importlib.metadata import entry_points
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from balancewatch.model import (
    AuthError,
    Balance,
    MalformedResponse,
    ProviderError,
    RateLimited,
    Snapshot,
    TransientError,
)
from balancewatch.units import to_amount

MAX_RESPONSE_BYTES = 1 << 20
"""A balance answer is a few hundred bytes; a megabyte is generous and still cheap."""

MAX_RETRY_AFTER = 3600.0
"""A Retry-After beyond an hour is capped: we would rather ask again than go blind."""

MAX_JSON_DEPTH = 64


def check_http_url(value: str) -> str:
    """An absolute http(s) URL that httpx can send to; the message never repeats the URL."""
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
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


@dataclass(frozen=True, slots=True)
class ErrorDetails:
    """What a provider's error body says, read defensively."""

    code: str | None = None
    message: str | None = None
    retry_after: float | None = None


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

    @property
    def host(self) -> str:
        """The host polled, for per-host concurrency limits."""
        return urlsplit(self.base_url).netloc

    def secrets(self) -> list[str]:
        """Every credential value of this account, for redaction."""
        found: list[str] = []
        for value in self.settings.__dict__.values():
            if isinstance(value, SecretStr):
                found.append(value.get_secret_value())
            elif isinstance(value, Mapping):
                found += [v.get_secret_value() for v in value.values() if isinstance(v, SecretStr)]
        return [s for s in found if s]

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
    """Class decorator: make a provider available by its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


def registry() -> Mapping[str, type[Provider]]:
    """Built-in providers plus those of the ``balancewatch.providers`` entry-point group."""
    global _ENTRY_POINTS_LOADED
    import balancewatch.providers  # noqa: F401  (imports the built-ins, which register)

    if not _ENTRY_POINTS_LOADED:
        _ENTRY_POINTS_LOADED = True
        for ep in entry_points(group="balancewatch.providers"):
            cls = ep.load()
            if isinstance(cls, type) and issubclass(cls, Provider):
                _REGISTRY.setdefault(cls.name, cls)
    return _REGISTRY


def get_provider(name: str) -> type[Provider]:
    return registry()[name]


# ---------------------------------------------------------------- strict JSON


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _parse_int(text: str) -> Decimal:
    if len(text) > 64:
        raise ValueError("number too long")
    return Decimal(text)


def _parse_float(text: str) -> Decimal:
    if len(text) > 64:
        raise ValueError("number too long")
    return Decimal(text)


def loads_strict(body: bytes) -> Any:
    """Decode JSON with every number as Decimal; NaN/Infinity, deep or huge input rejected."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedResponse("the body is not UTF-8 text") from None
    if not text.strip():
        raise MalformedResponse("the body is empty")
    if _nesting_exceeds(text, MAX_JSON_DEPTH):
        raise MalformedResponse(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(
            text, parse_float=_parse_float, parse_int=_parse_int, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError) as exc:
        snippet = text[:60].replace("\n", " ")
        raise MalformedResponse(
            f"the body is not valid JSON ({_short(exc)}): {snippet!r}"
        ) from None


def _nesting_exceeds(text: str, limit: int) -> bool:
    """A cheap upper bound on nesting (brackets inside strings count too, erring strict)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for char in text:
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _short(exc: BaseException) -> str:
    return str(exc).split(":")[0][:80]


def amount_at(data: Any, *path: str | int) -> Decimal | None:
    """The amount at ``path`` in decoded JSON: ``None`` if absent, MalformedResponse if bad."""
    node = value_at(data, path)
    if node is None:
        return None
    where = ".".join(str(p) for p in path)
    try:
        return to_amount(node)
    except ValueError as exc:
        raise MalformedResponse(f"{where}: {printable(str(exc))}") from None
    except ArithmeticError:  # decimal.Overflow from abs() of 1E+999999999, whatever to_amount does
        raise MalformedResponse(f"{where}: amount out of range") from None


def value_at(data: Any, path: Iterable[str | int]) -> Any:
    """The value at ``path`` (dict keys, list indexes), or ``None`` when any step is missing."""
    node = data
    for step in path:
        if isinstance(node, list) and isinstance(step, int) and -len(node) <= step < len(node):
            node = node[step]
        elif isinstance(node, dict) and str(step) in node:
            node = node[str(step)]
        else:
            return None
    return node


def require_amount(data: Any, *path: str | int) -> Decimal:
    """Like :func:`amount_at`, but a missing amount is a MalformedResponse too."""
    amount = amount_at(data, *path)
    if amount is None:
        raise MalformedResponse(f"{'.'.join(str(p) for p in path)} is missing")
    return amount


MAX_CURRENCY_CHARS = 64


def currency_key(value: Any, where: str) -> str:
    """A currency name from an answer: printable text, at most 64 characters, stripped.

    Anything else (a number, a control character, a lone surrogate from a ``\\ud800``
    escape, a kilobyte of text) would break the output, the logs or the state database.
    """
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_CURRENCY_CHARS or not text.isprintable():
        raise MalformedResponse(f"{where}: not a currency name")
    return text


def require_object(data: Any, key: str) -> dict[str, Any]:
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, dict):
        raise MalformedResponse(f"expected an object at {key!r}")
    return value


def generic_error_details(data: Any) -> ErrorDetails:
    """``error.code``/``error.message``, else ``message``, ``error``, ``errorMessage``, ..."""
    if not isinstance(data, dict):
        return ErrorDetails()
    code = message = None
    error = data.get("error")
    if isinstance(error, dict):
        code = _text(error.get("code"))
        message = _text(error.get("message"))
    for key in ("message", "error", "errorMessage", "description"):
        if message is None:
            message = _text(data.get(key))
    retry = data.get("retryAfter")
    retry_after = None
    if isinstance(retry, Decimal) and retry.is_finite() and retry > 0:
        retry_after = min(float(retry), MAX_RETRY_AFTER)
    return ErrorDetails(code=code, message=message, retry_after=retry_after)


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return printable(value[:200]) or None


def printable(text: str) -> str:
    """Foreign text made safe for one line of output: controls, line breaks and lone
    surrogates become spaces or ``?`` (a surrogate cannot even be printed or stored)."""
    cleaned = "".join(c if c.isprintable() else (" " if c.isspace() else "?") for c in text)
    return " ".join(cleaned.split())


# ---------------------------------------------------------------- fetch


def make_client(max_connections: int = 100) -> httpx.AsyncClient:
    """The one HTTP client every poll shares: pooled connections, no redirects.

    Redirects are off: a redirect to another host would carry the account's credentials
    there. httpx's own timeouts are per read; :func:`fetch` adds the overall deadline.
    """
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(30.0), follow_redirects=False)


async def fetch(
    provider: Provider,
    client: httpx.AsyncClient,
    *,
    account: str,
    now: datetime,
    deadline: float,
    max_bytes: int = MAX_RESPONSE_BYTES,
    wall_clock: Callable[[], float] = time.time,
) -> Snapshot:
    """Poll one account: request, bounded read, strict decode, typed errors. One deadline."""
    secrets = provider.secrets()
    try:
        request = provider.build_request(now)
        async with asyncio.timeout(deadline):
            status, headers, body = await _send(client, request, max_bytes)
    except TimeoutError:
        raise TransientError(f"no complete answer within {deadline:g}s") from None
    except httpx.HTTPError as exc:
        raise TransientError(_describe_transport_error(exc, secrets)) from None
    except ProviderError as exc:
        raise _redacted(exc, secrets) from None
    except Exception as exc:  # httpx.InvalidURL, UnicodeEncodeError, anyio's ExceptionGroup
        detail = redact(printable(f"{type(exc).__name__}: {exc}"), secrets)[:200]
        raise ProviderError(f"cannot send the request ({detail})") from None
    try:
        if not 200 <= status < 300:
            raise _status_error(provider, status, headers, body, wall_clock())
        content_type = headers.get("content-type", "").lower()
        if "json" not in content_type and "javascript" not in content_type:
            kind = printable(content_type.split(";")[0])[:60] or "no content type"
            raise MalformedResponse(f"HTTP {status} with {kind}, not JSON")
        balances = provider.parse(loads_strict(body))
    except ProviderError as exc:
        raise _redacted(exc, secrets) from None
    return Snapshot(account=account, taken_at=now, balances=balances)


def _redacted(error: ProviderError, secrets: Iterable[str]) -> ProviderError:
    """The same error with the account's secrets taken out of its text (a provider may
    echo the key it was sent, in an error body or a body snippet)."""
    reason = redact(error.reason, secrets)
    if reason == error.reason:
        return error
    return type(error)(reason, retry_after=error.retry_after)


async def _send(
    client: httpx.AsyncClient, request: Request, max_bytes: int
) -> tuple[int, httpx.Headers, bytes]:
    headers = {"Accept-Encoding": "identity", **request.headers}
    req = client.build_request(
        request.method, request.url, headers=headers, content=request.content
    )
    response = await client.send(req, stream=True)
    try:
        body = await _read_bounded(response, max_bytes)
    except (MalformedResponse, httpx.HTTPError):
        if 200 <= response.status_code < 300:
            raise
        body = b""  # an error status says enough: a 401 stays an AuthError, body or not
    finally:
        await response.aclose()
    return response.status_code, response.headers, body


async def _read_bounded(response: httpx.Response, max_bytes: int) -> bytes:
    """Read raw bytes, decompress with a bounded decompressor, stop past ``max_bytes``."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        decoder = zlib.decompressobj(wbits=47 if encoding != "deflate" else 15)
    elif encoding in ("identity", ""):
        decoder = None
    else:
        raise MalformedResponse(f"unsupported content encoding {encoding!r}")
    chunks: list[bytes] = []
    size = 0
    async for raw in response.aiter_raw():
        if decoder is None:
            piece = raw
        else:
            try:
                piece = decoder.decompress(raw, max_bytes + 1 - size)
            except zlib.error:
                raise MalformedResponse("the body is not valid compressed data") from None
        size += len(piece)
        if size > max_bytes or (decoder is not None and decoder.unconsumed_tail):
            raise MalformedResponse(f"the body is larger than {max_bytes} bytes")
        chunks.append(piece)
    return b"".join(chunks)


def _describe_transport_error(exc: httpx.HTTPError, secrets: Iterable[str]) -> str:
    kinds: list[tuple[type[httpx.HTTPError], str]] = [
        (httpx.ConnectTimeout, "connect timed out"),
        (httpx.ReadTimeout, "read timed out"),
        (httpx.TimeoutException, "timed out"),
        (httpx.ConnectError, "could not connect"),
        (httpx.RemoteProtocolError, "connection closed mid-answer"),
        (httpx.ReadError, "connection broken while reading"),
    ]
    label = next((text for cls, text in kinds if isinstance(exc, cls)), "request failed")
    detail = redact(str(exc), secrets)
    return f"{label}: {detail}" if detail else label


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace each secret in ``text`` with ``***`` (longest first, so prefixes are whole)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _status_error(
    provider: Provider, status: int, headers: httpx.Headers, body: bytes, now: float
) -> ProviderError:
    try:
        data = loads_strict(body)
    except MalformedResponse:
        data = None
    retry = parse_retry_after(headers.get("retry-after"), now)
    return classify_error(provider, status, data, retry_after=retry)


def classify_error(
    provider: Provider, status: int, data: Any, *, retry_after: float | None = None
) -> ProviderError:
    """The typed error for an HTTP status and the provider's error body (2xx bodies too)."""
    details = provider.error_details(data)
    said = details.message or details.code or ""
    if details.code and details.message:
        said = f"{details.code}: {details.message}"
    reason = redact(f"HTTP {status}" + (f" {said}" if said else ""), provider.secrets())
    if status in (401, 403) or details.code in provider.auth_codes:
        return AuthError(reason)
    if status == 429 or details.code in RATE_LIMIT_CODES:
        retry = retry_after if retry_after is not None else details.retry_after
        return RateLimited(reason, retry_after=min(retry, MAX_RETRY_AFTER) if retry else None)
    return TransientError(reason)


RATE_LIMIT_CODES = frozenset({"RATE_LIMIT_EXCEEDED", "TOO_MANY_REQUESTS"})


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²".isdigit() is True, and int() refuses it
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
