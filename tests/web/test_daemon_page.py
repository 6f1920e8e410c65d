"""The page as the daemon serves it: on the `http:` address, beside /metrics and /healthz."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from balancewatch.sim.server import SimServer
from tests.daemon.test_service import Daemon
from tests.daemon.watching import wait_until
from tests.receivers import JsonReceiver, free_port


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """A `balancewatch run` of tests/daemon's config, its providers simulated."""
    with SimServer() as sim, JsonReceiver() as receiver:
        sim.add_account("oneclickdz", "shop-key-123456", balances={"DZD": {"available": 6000}})
        sim.add_account("sunor", "credits-key-123456", balances={"CREDITS": {"available": 950}})
        d = Daemon(tmp_path, sim, receiver)
        yield d
        if d.proc is not None and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


def test_the_daemon_serves_the_page_metrics_and_health_on_one_port(daemon: Daemon) -> None:
    """One listen address: /, an account's page, the API, /metrics and /healthz."""
    port = free_port()
    daemon.write_config(extra=f"http:\n  listen: 127.0.0.1:{port}\n")
    daemon.start()
    wait_until(lambda: daemon.polls("shop") >= 1 and daemon.polls("credits") >= 1, what="polls")
    base = f"http://127.0.0.1:{port}"
    bodies = {}
    for path in ("/", "/accounts/shop", "/api/v1/status", "/metrics", "/healthz"):
        with urllib.request.urlopen(base + path, timeout=5) as response:
            assert response.status == 200, path
            bodies[path] = response.read().decode()
    assert 'href="/accounts/shop"' in bodies["/"]
    assert "6,000.00 DZD" in bodies["/accounts/shop"]
    assert '"account": "credits"' in bodies["/api/v1/status"]
    assert "balancewatch_polls_total" in bodies["/metrics"]
    assert bodies["/healthz"] == "ok\n"
    listening = daemon.events("http_listening")
    assert listening[0]["page"] == f"http://127.0.0.1:{port}/"
    assert daemon.stop() == 0


def test_a_taken_address_is_one_error_line_and_exit_1(tmp_path: Path) -> None:
    """Another process on the port: the daemon says so and exits 1, no traceback."""
    with SimServer() as sim, JsonReceiver() as receiver, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        d = Daemon(tmp_path, sim, receiver)
        d.write_config(extra=f"http:\n  listen: 127.0.0.1:{port}\n")
        result = subprocess.run(
            [sys.executable, "-m", "balancewatch", "run", "-c", str(d.config)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    assert "http_listen_failed" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
