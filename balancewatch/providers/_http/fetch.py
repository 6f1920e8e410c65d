"""The one shared fetch path: request, bounded read, strict decode, typed errors.

- one shared client (:mod:`~balancewatch.providers._http.transport`: httpx's requests and
  responses over aiohttp's connection pool), plus an overall deadline per poll
  (``asyncio.timeout``): httpx's timeouts are per read, so a server dripping one byte a
  second would otherwise hold a poll for minutes;
- ``Accept-Encoding: identity`` and a cap on the bytes *after* decompression, so a gzip
  bomb costs at most ``max_bytes`` of memory;
- HTTP status and provider error bodies mapped to the typed errors of ``model.py``;
- foreign error text redacted of the account's secrets, and made printable on one line,
  before it lands in an error.

:func:`fetch` lets only :class:`~balancewatch.model.ProviderError` out. A request that
cannot even be sent (an URL or header value httpx refuses; settings validation catches
these at load, this is the last line of defence) is a plain ``ProviderError``: it is not
the provider's fault, it will not fix itself, and it is not a balance.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol

from balancewatch.model import (
    AuthError,
    MalformedResponse,
    ProviderError,
    RateLimited,
    Snapshot,
    TransientError,
)
from balancewatch.providers.reading import MAX_RETRY_AFTER, loads_strict, printable
from balancewatch.redaction import hide

if TYPE_CHECKING:
    import ssl
    from collections.abc import Mapping

    import httpx

    from balancewatch.providers.base import Provider, Request


class Client(Protocol):
    """What :func:`fetch` needs of the shared client (:func:`make_client` makes the real one,
    ``_http/transport.SharedClient``); a protocol, so that naming it imports no HTTP library."""

    def request(
        self, method: str, url: str, headers: Mapping[str, str], content: bytes | None
    ) -> httpx.Request: ...

    async def send(self, request: httpx.Request) -> httpx.Response: ...

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Client: ...

    async def __aexit__(self, *exc: object) -> None: ...


MAX_RESPONSE_BYTES = 1 << 20
"""A balance answer is a few hundred bytes; a megabyte is generous and still cheap."""


def make_client(max_connections: int = 100, *, verify: ssl.SSLContext | None = None) -> Client:
    """The one HTTP client every poll shares (:mod:`~balancewatch.providers._http.transport`):
    pooled connections, no redirects (one to another host would carry the account's
    credentials there), per-phase timeouts of 30 s under :func:`fetch`'s overall deadline."""
    from balancewatch.providers._http.transport import AiohttpTransport, SharedClient

    return SharedClient(AiohttpTransport(max_connections=max_connections, verify=verify))


async def fetch(
    provider: Provider,
    client: Client,
    *,
    account: str,
    now: datetime,
    deadline: float,
    max_bytes: int = MAX_RESPONSE_BYTES,
    wall_clock: Callable[[], float] = time.time,
) -> Snapshot:
    """Poll one account: request, bounded read, strict decode, typed errors. One deadline."""
    import asyncio  # here, with httpx: loading a config imports this module, not them

    import httpx

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
        detail = printable(hide(f"{type(exc).__name__}: {exc}", secrets))[:200]
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
    reason = hide(error.reason, secrets)
    if reason == error.reason:
        return error
    return type(error)(reason, retry_after=error.retry_after)


async def _send(
    client: Client, request: Request, max_bytes: int
) -> tuple[int, httpx.Headers, bytes]:
    import httpx

    sent = client.request(request.method, request.url, request.headers, request.content)
    response = await client.send(sent)
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
    import httpx

    kinds: list[tuple[type[httpx.HTTPError], str]] = [
        (httpx.ConnectTimeout, "connect timed out"),
        (httpx.ReadTimeout, "read timed out"),
        (httpx.TimeoutException, "timed out"),
        (httpx.ConnectError, "could not connect"),
        (httpx.RemoteProtocolError, "connection closed mid-answer"),
        (httpx.ReadError, "connection broken while reading"),
    ]
    label = next((text for cls, text in kinds if isinstance(exc, cls)), "request failed")
    detail = hide(str(exc), secrets)
    return f"{label}: {detail}" if detail else label


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
    reason = hide(f"HTTP {status}" + (f" {said}" if said else ""), provider.secrets())
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
