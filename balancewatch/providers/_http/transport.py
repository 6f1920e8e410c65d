"""The one HTTP client every poll shares: httpx requests and responses, aiohttp's pool.

The polls speak httpx (DESIGN: one shared httpx client; requests, responses and errors
are httpx's), through two layers measured as the most expensive parts of a poll at scale
(``docs/benchmarks.md``, 10,000 accounts):

- httpx's default connection pool (httpcore re-checks every pooled connection on each
  request, anyio wraps each read in cancel scopes): 1.2 ms of CPU per fetch against
  0.55 ms with :class:`AiohttpTransport`, the whole fetch path included;
- ``httpx.AsyncClient``'s own layer: a cookie jar fed every response, redirect and auth
  flows, URL merging. None of it does anything for a balance poll (no cookies kept, no
  redirects followed: they would carry credentials to another host) and it was 15% of
  the event loop's time. :class:`SharedClient` sends through httpx's transport interface
  (``httpx.AsyncBaseTransport.handle_async_request``) directly instead.

:class:`AiohttpTransport` keeps the connections in an ``aiohttp.ClientSession`` and
only translates, in one place:

- the request: method, URL, headers as httpx built them, body; no redirects, no
  decompression (the fetch path decompresses itself, with a bound), httpx's per-phase
  timeouts as aiohttp's socket timeouts;
- the response: status, raw headers, the body as a stream of raw bytes; a body not read to
  the end closes its connection instead of returning it to the pool;
- the errors, as httpx's exception tree (``fetch._describe_transport_error`` names them)::

      aiohttp.ConnectionTimeoutError           -> httpx.ConnectTimeout
      aiohttp.SocketTimeoutError               -> httpx.ReadTimeout
      aiohttp.ServerTimeoutError (other)       -> httpx.TimeoutException
      aiohttp.ClientConnectorError (DNS, refused, TLS) -> httpx.ConnectError
      aiohttp.ServerDisconnectedError          -> httpx.RemoteProtocolError
      aiohttp.ClientPayloadError (truncated)   -> httpx.RemoteProtocolError
      aiohttp.ClientResponseError (bad HTTP)   -> httpx.RemoteProtocolError
      aiohttp.ClientOSError (reset)            -> httpx.ReadError
      any other aiohttp.ClientError            -> httpx.TransportError

Proxies come from the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``), as
httpx would have taken them: read when the transport is made, looked up per request only
when one is set. aiohttp's own ``trust_env`` is off: it would also read ``~/.netrc`` on
every request (a file read in a thread, and credentials sent where the file says).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager, suppress

import aiohttp
import httpx
import yarl
from aiohttp.helpers import get_env_proxy_for_url, proxies_from_env

from balancewatch import __version__

CHUNK = 64 * 1024
HEADERS = {
    "User-Agent": f"balancewatch/{__version__}",
    "Accept": "*/*",
    "Accept-Encoding": "identity",  # the fetch path decompresses itself, with a bound
}
"""Sent with every request unless the provider sets its own."""
URL_CACHE = 4096
"""Parsed URLs kept (a key in a query string makes one per account: then it is a bound)."""

_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.TimeoutException),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientOSError, httpx.ReadError),
    (aiohttp.ClientError, httpx.TransportError),
)
"""First match wins: the most specific aiohttp class comes first."""


@contextmanager
def _httpx_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except aiohttp.ClientError as exc:
        kind = next(to for cls, to in _ERRORS if isinstance(exc, cls))
        raise kind(_describe(exc), request=request) from exc


def _describe(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server disconnected before a complete answer"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"invalid HTTP answer: {exc.message}"
    return str(exc) or type(exc).__name__


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors(self._request):
            async for chunk in self._response.content.iter_chunked(CHUNK):
                yield chunk

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()  # read to the end: the connection goes back to the pool
        else:
            self._response.close()  # a half-read body must not be the next request's answer


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` over one ``aiohttp.ClientSession``.

    The session is made on first use, inside the running loop (aiohttp binds it there).
    """

    def __init__(self, *, max_connections: int, verify: ssl.SSLContext | None = None) -> None:
        self._max_connections = max_connections
        self._ssl = verify if verify is not None else httpx.create_ssl_context()
        self._session: aiohttp.ClientSession | None = None
        self._proxied = bool(proxies_from_env())

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, ssl=self._ssl, keepalive_timeout=5.0
        )
        return aiohttp.ClientSession(
            connector=connector,
            trust_env=False,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            self._session = self._open()
        timeout = request.extensions.get("timeout", {})
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        url = yarl.URL(str(request.url), encoded=True)  # httpx has encoded it already
        proxy = None
        if self._proxied:
            with suppress(LookupError):  # NO_PROXY, or none for this scheme
                proxy, auth = get_env_proxy_for_url(url)
                if auth is not None:  # given back in the URL: aiohttp's proxy_auth is deprecated
                    proxy = proxy.with_user(auth.login).with_password(auth.password)
        with _httpx_errors(request):
            response = await self._session.request(
                request.method,
                url,
                proxy=proxy,
                headers=headers,
                data=request.content or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=timeout.get("connect"), sock_read=timeout.get("read")
                ),
            )
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason.encode()}
            if response.reason
            else {"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class SharedClient:
    """One connection pool for every poll, with httpx's request and response types.

    ``timeout`` is httpx's per-phase timeout (connect, each read); the fetch path adds
    the overall deadline. Any ``httpx.AsyncBaseTransport`` will do: the daemon's is
    :class:`AiohttpTransport`, tests may give httpx's ``MockTransport``.
    """

    def __init__(self, transport: httpx.AsyncBaseTransport, *, timeout: float = 30.0) -> None:
        self._transport = transport
        self._timeouts = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        self._urls: dict[str, httpx.URL] = {}

    def request(
        self, method: str, url: str, headers: Mapping[str, str], content: bytes | None
    ) -> httpx.Request:
        parsed = self._urls.get(url)
        if parsed is None:  # most accounts of a provider share one URL: parse it once
            if len(self._urls) >= URL_CACHE:
                self._urls.clear()
            parsed = self._urls[url] = httpx.URL(url)
        return httpx.Request(
            method,
            parsed,
            headers={**HEADERS, **headers},
            content=content,
            extensions={"timeout": self._timeouts},
        )

    async def send(self, request: httpx.Request) -> httpx.Response:
        """The response with its body still to read (``aiter_raw``), then ``aclose``."""
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> SharedClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
