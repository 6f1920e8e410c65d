"""What-if experiments: a suggested change to balancewatch, patched in at run time.

``python -m bench.run --sizes 10000 --what-if httpx-pool`` runs the daemon phase only,
through ``bench.unlimited`` with ``BENCH_WHATIF=httpx-pool``, and writes
``daemon-httpx-pool-n10000.json``: how much a change would gain, measured the same way
as the real thing, before anyone edits ``balancewatch/``. Nothing here is used otherwise.

Several may be combined, comma-separated.

- ``prefix-redactor`` (secrets indexed by their first characters) was measured here and is
  now ``balancewatch.redaction.Redactor``'s own index.
- ``spread-first-runs`` (first runs spread over the whole interval) was measured here and
  is now the daemon's own schedule, ``balancewatch.daemon.schedule.SlotTrigger``.
- ``httpx-pool``: the polls as they were sent before f24bc11, through ``httpx.AsyncClient``
  and httpx's own connection pool (httpcore), instead of
  ``balancewatch.providers._http.transport``'s ``SharedClient`` over aiohttp's pool: what that
  decision is worth, measured in the daemon.
- ``claim-every-poll``: a lease claimed again before every poll, instead of kept while it
  covers the poll and the next tick (``balancewatch.daemon.claims.Leases.needs_renewal``):
  what keeping leases saves (``bench.ha cpu --what-if claim-every-poll``).
"""

from __future__ import annotations

from typing import Any


def _httpx_pool() -> None:
    import httpx

    from balancewatch.providers._http import transport

    class Client:  # SharedClient's interface, over httpx.AsyncClient and its pool
        def __init__(self, max_connections: int) -> None:
            limits = httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            )
            self._client = httpx.AsyncClient(
                limits=limits, timeout=httpx.Timeout(30.0), follow_redirects=False
            )

        def request(self, method: str, url: str, headers: Any, content: Any) -> Any:
            return self._client.build_request(
                method, url, headers={**transport.HEADERS, **headers}, content=content
            )

        async def send(self, request: Any) -> Any:
            return await self._client.send(request, stream=True)

        async def aclose(self) -> None:
            await self._client.aclose()

        async def __aenter__(self) -> Client:
            return self

        async def __aexit__(self, *exc: object) -> None:
            await self.aclose()

    # make_client() builds SharedClient(AiohttpTransport(max_connections=..., verify=...))
    transport.AiohttpTransport = lambda max_connections, verify=None: max_connections  # type: ignore[assignment,misc]
    transport.SharedClient = Client  # type: ignore[assignment,misc]


def _claim_every_poll() -> None:
    from balancewatch.daemon.claims import Leases

    Leases.needs_renewal = lambda self, name, cover: True  # type: ignore[method-assign]


EXPERIMENTS = {
    "httpx-pool": _httpx_pool,
    "claim-every-poll": _claim_every_poll,
}


def apply(names: str) -> None:
    for name in names.split(","):
        if name not in EXPERIMENTS:
            raise SystemExit(f"unknown what-if {name!r}; known: {', '.join(EXPERIMENTS)}")
        EXPERIMENTS[name]()
