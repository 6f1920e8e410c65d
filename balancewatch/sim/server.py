"""Simulated balance providers on loopback, speaking the real wire formats.

One :class:`SimServer` serves Dhmad, OneClickDz, TheDex and Sunor on a single port. Every
endpoint answers both bare (``/api/v1/balance``) and under a provider prefix
(``/dhmad/api/v1/balance``), so ``base_url("dhmad")`` stands in for the real base URL.

From a shell (:mod:`balancewatch.sim.cli`; ``python -m balancewatch.sim --help``)::

    python -m balancewatch.sim                                # accounts, a config to watch them
    python -m balancewatch.sim config > sim.yaml              # that config, for balancewatch
    python -m balancewatch.sim set oneclickdz available 950   # while it runs: alert fires
    python -m balancewatch.sim fault sunor 500                # ... and `fault sunor none`

``set``, ``fault`` and ``show`` go through a control channel on the same port, ``/_sim/``
(:mod:`balancewatch.sim.admin`: JSON over HTTP, e.g. ``POST /_sim/accounts/oneclickdz``
with ``{"available": "950"}``).

* A small HTTP/1.1 server on asyncio streams (:mod:`balancewatch.sim.http`): one coroutine
  per connection, keep-alive, ``Content-Length`` bodies; thousands of idle connections
  cost a few KiB each.
* Accounts, faults and lockouts (:mod:`balancewatch.sim.accounts`) sit behind one
  ``threading.Lock`` (tests mutate them from another thread); it is never held across an
  ``await``. Each answer is decided under the lock, written outside.
* Amounts are Decimals, written into JSON as their exact text by :func:`dumps`
  (:mod:`balancewatch.sim.wire`, with the providers' bodies, routes and authentication).
* Faults are data (:mod:`balancewatch.sim.faults`): a name maps to a function building a
  response; connection-level faults (reset, truncate, drip, hang, gzip bomb) are an
  ``action`` that :func:`~balancewatch.sim.http.send_response` performs.
* :meth:`SimServer.stop` aborts every connection (hanging and dripping ones too) and awaits
  its coroutine, so nothing is left pending.

The public names that moved to those modules (:data:`PROVIDERS`, :data:`FAULTS`,
:func:`dumps`, :func:`gzip_bomb_body`, ...) are re-exported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import threading
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from types import TracebackType

from balancewatch.sim.accounts import OCD_BLOCK_SECONDS, OCD_MAX_ATTEMPTS, SimAccounts
from balancewatch.sim.admin import admin_response, is_admin
from balancewatch.sim.faults import FAULTS
from balancewatch.sim.http import (
    GZIP_BOMB_MIB,
    MAX_BODY,
    HttpError,
    gzip_bomb_body,
    read_request,
    send_response,
)
from balancewatch.sim.wire import (
    DEFAULT_BALANCES,
    ENDPOINTS,
    PROVIDERS,
    THEDEX_SHAPES,
    Balances,
    dumps,
    json_response,
    normalize_balances,
    success_obj,
    verify_thedex,
)

__all__ = [
    "DEFAULT_BALANCES",
    "ENDPOINTS",
    "FAULTS",
    "GZIP_BOMB_MIB",
    "MAX_BODY",
    "OCD_BLOCK_SECONDS",
    "OCD_MAX_ATTEMPTS",
    "PROVIDERS",
    "THEDEX_SHAPES",
    "Balances",
    "SimServer",
    "dumps",
    "generated_accounts",
    "gzip_bomb_body",
    "main",
    "success_obj",
    "verify_thedex",
]


class SimServer(SimAccounts):
    """All four providers on one loopback port; see the module docstring.

    Accounts, balances and faults are set through the methods of :class:`SimAccounts`
    (``add_account``, ``set_balance``, ``set_drain``, ``set_fault``, ...).
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(clock=clock)
        self.host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._thread_stop: asyncio.Event | None = None
        self.connections_accepted = 0
        self.loop_errors: list[str] = []

    # ------------------------------------------------------------ connections

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if self._server is None or task is None:
            writer.transport.abort()
            return
        self._connections[task] = writer
        self.connections_accepted += 1
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if isinstance(peername, tuple) else "local"
        try:
            await self._connection_loop(reader, writer, peer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # peer went away, or stop() cancelled us: nothing left to answer
        finally:
            del self._connections[task]
            writer.close()

    async def _connection_loop(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        while True:
            try:
                request = await read_request(reader, peer)
            except HttpError as exc:
                body = {"error": http.HTTPStatus(exc.status).phrase, "message": str(exc)}
                await send_response(
                    reader, writer, json_response(exc.status, body), keep_alive=False
                )
                return
            if request is None:
                return
            if is_admin(request.path):
                response = admin_response(self, request)
            else:
                response = self._dispatch(request)
            if not await send_response(reader, writer, response, keep_alive=request.keep_alive):
                return

    # ------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        return self._port

    def base_url(self, provider: str) -> str:
        if provider not in ENDPOINTS:
            raise ValueError(f"unknown provider {provider!r}")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}/{provider}"

    async def start(self) -> None:
        """Listen on the running loop; ``port`` is known afterwards."""
        if self._server is not None:
            raise RuntimeError("SimServer is already running")
        self._server = await asyncio.start_server(
            self._serve_connection, self.host, self._port, backlog=4096, limit=64 * 1024
        )
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and close every connection, hanging and dripping ones too."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await asyncio.sleep(0)  # let just-accepted connections reach _serve_connection
        tasks = list(self._connections)
        for task, writer in list(self._connections.items()):
            writer.transport.abort()
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    def start_in_thread(self) -> SimServer:
        """Run the server on its own event loop in a daemon thread; returns ``self``."""
        if self._thread is not None:
            raise RuntimeError("SimServer thread already running")
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._thread_main(ready, errors)),
            name="sim-server",
            daemon=True,
        )
        self._thread.start()
        ready.wait()
        if errors:
            self._thread.join()
            self._thread = None
            raise errors[0]
        return self

    async def _thread_main(self, ready: threading.Event, errors: list[BaseException]) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._record_loop_error)
        self._thread_loop, self._thread_stop = loop, asyncio.Event()
        try:
            await self.start()
        except Exception as exc:
            errors.append(exc)
            return
        finally:
            ready.set()
        try:
            await self._thread_stop.wait()
        finally:
            await self.stop()

    def _record_loop_error(
        self, loop: asyncio.AbstractEventLoop, context: dict[str, object]
    ) -> None:
        self.loop_errors.append(str(context.get("message")))
        loop.default_exception_handler(context)

    def stop_thread(self) -> None:
        """Stop the server started by :meth:`start_in_thread` and join its thread."""
        thread, loop, event = self._thread, self._thread_loop, self._thread_stop
        if thread is None or loop is None or event is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(event.set)
        thread.join(timeout=10)
        self._thread = self._thread_loop = self._thread_stop = None

    def __enter__(self) -> SimServer:
        return self.start_in_thread()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_thread()


# ---------------------------------------------------------------- command line


def generated_accounts(count: int) -> list[tuple[str, str, str | None, Balances]]:
    """Deterministic accounts over the providers: (provider, key, secret, balances)."""
    accounts: list[tuple[str, str, str | None, Balances]] = []
    for index in range(count):
        provider = PROVIDERS[index % len(PROVIDERS)]
        key = f"sim-{provider}-{index // len(PROVIDERS):04d}"
        balances = normalize_balances(DEFAULT_BALANCES[provider])
        for kinds in balances.values():  # vary the amounts, keeping each default's scale
            kinds["available"] *= Decimal(1 + (index * 7919) % 97)
        accounts.append(
            (provider, key, f"secret-{key}" if provider == "thedex" else None, balances)
        )
    return accounts


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m balancewatch.sim``: serve, or steer a running simulator (:mod:`.sim_cli`)."""
    from balancewatch.sim.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
