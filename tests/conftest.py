"""Shared fixtures for the provider, fault, fuzz and CLI tests.

- ``sim``: a fresh :class:`~balancewatch.sim.server.SimServer` on loopback for each test (so a
  fault, a drained balance or OneClickDz's IP lockout never leaks into the next test),
  with one account per provider registered under :data:`KEYS`.
- ``provider_for``: a configured provider object pointed at the simulator.
- ``poll``: one real :func:`~balancewatch.providers.fetch` over a real client.
- ``scripted``: a tiny HTTP(S) server whose answer each test writes, for what the
  simulator cannot say (an echoed key, a POST body to record, a TLS certificate).
- ``write_config`` and ``run_cli``: a config file on disk and ``python -m balancewatch``
  as a real subprocess.
- ``pg_cluster`` and ``pg_url``: a real PostgreSQL server per test process, a new database
  per test.
"""

from __future__ import annotations

import asyncio
import http.server
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from balancewatch.model import Snapshot
from balancewatch.providers import Provider, fetch, get_provider, make_client
from balancewatch.providers._http.transport import SharedClient
from balancewatch.sim.server import PROVIDERS, SimServer
from tests.pgcluster import PgCluster, start_cluster

KEYS: Mapping[str, str] = {
    "dhmad": "sk_live_dhmad_0123456789abcdef",
    "oneclickdz": "ocd-key-0123456789abcdef",
    "thedex": "thedex-key-0123456789abcdef",
    "sunor": "sunor-key-0123456789abcdef",
}
"""The simulator's account of each provider (TheDex signs with :data:`THEDEX_SECRET`)."""

THEDEX_SECRET = "thedex-secret-0123456789abcdef"

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[SimServer]:
    """A running simulator with the four accounts of :data:`KEYS` at their defaults."""
    server = SimServer()
    for provider in PROVIDERS:
        secret = THEDEX_SECRET if provider == "thedex" else None
        server.add_account(provider, KEYS[provider], secret=secret)
    server.start_in_thread()
    try:
        yield server
    finally:
        server.stop_thread()


def make_provider(name: str, currency: str | None = None, **settings: Any) -> Provider:
    """A provider object from raw settings, validated exactly as the config does it."""
    cls = get_provider(name)
    return cls(cls.Settings.model_validate(settings), currency=currency)


@pytest.fixture
def provider_for(sim: SimServer) -> Callable[..., Provider]:
    """``provider_for("thedex", api_key=...)``: that provider aimed at the simulator, with
    the simulator's key (and TheDex secret) unless the test says otherwise."""

    def build(name: str, currency: str | None = None, **settings: Any) -> Provider:
        defaults: dict[str, Any] = {"base_url": sim.base_url(name), "api_key": KEYS[name]}
        if name == "thedex":
            defaults["secret"] = THEDEX_SECRET
        return make_provider(name, currency, **{**defaults, **settings})

    return build


async def fetch_once(
    provider: Provider,
    *,
    deadline: float = 5.0,
    now: datetime = NOW,
    client: SharedClient | None = None,
) -> Snapshot:
    """One poll through the shared fetch path, on a fresh client unless one is given."""
    if client is not None:
        return await fetch(provider, client, account="acct", now=now, deadline=deadline)
    async with make_client() as own:
        return await fetch(provider, own, account="acct", now=now, deadline=deadline)


@pytest.fixture
def poll() -> Callable[..., Snapshot]:
    """``poll(provider, deadline=...)``: run one fetch on its own event loop."""

    def run(provider: Provider, **kwargs: Any) -> Snapshot:
        return asyncio.run(fetch_once(provider, **kwargs))

    return run


# ---------------------------------------------------------------- scripted server


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """A threaded HTTP(S) server answering every request with ``reply`` (or ``answer``)."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.reply = Reply()
        self.answer: Callable[[Received], Reply] | None = None
        self.received: list[Received] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                got = Received(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                server.received.append(got)
                reply = server.answer(got) if server.answer else server.reply
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if context is not None:
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    try:
        yield server
    finally:
        server.close()


# ---------------------------------------------------------------- config and CLI


def sim_accounts(sim: SimServer, keys: Mapping[str, str] = KEYS) -> list[dict[str, Any]]:
    """Config entries for the four simulated accounts, named after their providers."""
    accounts: list[dict[str, Any]] = []
    for provider in PROVIDERS:
        entry: dict[str, Any] = {
            "name": provider,
            "provider": provider,
            "api_key": keys[provider],
            "base_url": sim.base_url(provider),
        }
        if provider == "thedex":
            entry["secret"] = THEDEX_SECRET
        accounts.append(entry)
    return accounts


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """``write_config(accounts, timeout="2s", **sections)`` -> a YAML file in ``tmp_path``.

    The state file lives in ``tmp_path`` too, so no test reads another's history.
    """

    def write(
        accounts: list[dict[str, Any]],
        *,
        timeout: str = "2s",
        text: str | None = None,
        **extra: Any,
    ) -> Path:
        path = tmp_path / "config.yaml"
        if text is None:
            doc: dict[str, Any] = {
                "state": {"path": str(tmp_path / "state.db")},
                "defaults": {"timeout": timeout},
                **extra,
                "accounts": accounts,
            }
            text = yaml.safe_dump(doc, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return write


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a CLI run: no inherited config, state or credentials."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("BALANCEWATCH_CONFIG", "STATE_DIRECTORY", "CREDENTIALS_DIRECTORY")
    }
    return {**env, **(extra or {})}


def cli_command(config: Path | None, *args: str) -> list[str]:
    where = ["-c", str(config)] if config is not None else []
    return [sys.executable, "-m", "balancewatch", *where, *args]


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_cli(config, "check", "--json")``: the real CLI in a subprocess (cwd tmp_path)."""

    def run(
        config: Path | None, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            cli_command(config, *args),
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
            env=cli_env(env),
            timeout=60,
        )

    return run


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL server for this test process (tests/pgcluster.py). Missing
    PostgreSQL fails the tests that need it, with what to install: they never skip."""
    try:
        cluster = start_cluster()
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    yield cluster
    cluster.destroy()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """The URL of a new, empty database of its own for this test."""
    if not pg_cluster.running():
        pg_cluster.start()  # a test that stopped it failed before starting it again
    return pg_cluster.new_database()
