"""The daemon as a real process against the simulated providers, notifying a local receiver.

These tests wait on a real process, so they poll for outcomes with a deadline instead of
sleeping a fixed time; intervals are one second to keep them short.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from balancewatch.sim.server import SimServer
from tests.daemon.watching import log_events, wait_until
from tests.receivers import JsonReceiver

CONFIG = """\
state:
  path: {db}
defaults:
  interval: {interval}
  timeout: 800ms
  jitter: 0s
  failures_before_alert: 2
  repeat: 1h
notifiers:
  hook: "json://127.0.0.1:{port}/hook"
accounts:
  - name: shop
    provider: oneclickdz
    api_key: shop-key-123456
    base_url: {oneclickdz}
    rules:
      - threshold: {{below: {{warning: {warning}, critical: 1000}}, clear_margin: 100}}
  - name: credits
    provider: sunor
    api_key: credits-key-123456
    base_url: {sunor}
    rules:
      - threshold: {{below: {{warning: 500}}}}
"""


@dataclass
class Daemon:
    """One `balancewatch run` process, its config and its log."""

    workdir: Path
    sim: SimServer
    receiver: JsonReceiver
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def config(self) -> Path:
        return self.workdir / "config.yaml"

    @property
    def log(self) -> Path:
        return self.workdir / f"daemon-{self.starts}.log"

    def write_config(
        self, *, interval: str = "1s", warning: int = 5000, broken: bool = False, extra: str = ""
    ) -> None:
        text = CONFIG.format(
            db=self.workdir / "state.db",
            interval=interval,
            port=self.receiver.port,
            oneclickdz=self.sim.base_url("oneclickdz"),
            sunor=self.sim.base_url("sunor"),
            warning=warning,
        )
        if broken:
            text = text.replace("provider: sunor", "provider: sunnor")
        self.config.write_text(text + extra)

    def start(self, *extra: str) -> None:
        self.starts += 1
        out = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "balancewatch", "run", "-c", str(self.config), *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )

    def events(self, name: str | None = None) -> list[dict[str, object]]:
        return log_events([self.log], name)

    def polls(self, account: str) -> int:
        return sum(1 for e in self.events("poll") if e.get("account") == account)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)


@pytest.fixture
def sim() -> Iterator[SimServer]:
    server = SimServer().start_in_thread()
    server.add_account("oneclickdz", "shop-key-123456", balances={"DZD": {"available": 6000}})
    server.add_account("sunor", "credits-key-123456", balances={"CREDITS": {"available": 950}})
    yield server
    server.stop_thread()


@pytest.fixture
def receiver() -> Iterator[JsonReceiver]:
    with JsonReceiver() as r:
        yield r


@pytest.fixture
def daemon(tmp_path: Path, sim: SimServer, receiver: JsonReceiver) -> Iterator[Daemon]:
    d = Daemon(tmp_path, sim, receiver)
    d.write_config()
    yield d
    if d.proc is not None and d.proc.poll() is None:
        d.proc.kill()
        d.proc.wait()


def titles(receiver: JsonReceiver) -> list[str]:
    return [str(m.payload.get("title", "")) for m in receiver.messages()]


def test_one_notification_per_problem_and_a_kill_repeats_nothing(
    daemon: Daemon, sim: SimServer, receiver: JsonReceiver
) -> None:
    """Crossing critical notifies once; SIGKILL and a restart repeat nothing; a top-up resolves once."""
    daemon.start()
    wait_until(lambda: daemon.polls("shop") >= 2, what="first polls")
    assert receiver.messages() == []
    sim.set_balance("shop-key-123456", "DZD", available=Decimal("950.00"))
    wait_until(lambda: len(receiver.messages()) == 1, what="the critical alert")
    assert "[CRITICAL] shop: available 950.00 DZD is below 1,000.00 DZD" in titles(receiver)[0]
    seen = daemon.polls("shop")
    wait_until(lambda: daemon.polls("shop") >= seen + 3, what="more polls")
    assert len(receiver.messages()) == 1

    assert daemon.proc is not None
    daemon.proc.kill()
    daemon.proc.wait()
    daemon.start()
    wait_until(lambda: daemon.polls("shop") >= 3, what="polls after the restart")
    assert len(receiver.messages()) == 1, titles(receiver)

    sim.set_balance("shop-key-123456", "DZD", available=Decimal("7000.00"))
    wait_until(lambda: len(receiver.messages()) == 2, what="the resolve")
    assert titles(receiver)[1].startswith("[RESOLVED] shop:")
    seen = daemon.polls("shop")
    wait_until(lambda: daemon.polls("shop") >= seen + 2, what="more polls")
    assert len(receiver.messages()) == 2
    assert daemon.stop() == 0


def test_unreachable_after_n_failures_then_back(
    daemon: Daemon, sim: SimServer, receiver: JsonReceiver
) -> None:
    """Two failed polls in a row fire `unreachable` once; the provider coming back resolves it."""
    daemon.start()
    wait_until(lambda: daemon.polls("credits") >= 1, what="first poll")
    sim.set_fault("credits-key-123456", "http500")
    wait_until(
        lambda: any("unreachable" in t for t in titles(receiver)), timeout=20, what="unreachable"
    )
    assert not any("credits" in t and "below" in t for t in titles(receiver)), "unknown is not zero"
    sim.set_fault("credits-key-123456", None)
    wait_until(
        lambda: any(t.startswith("[RESOLVED] credits") for t in titles(receiver)),
        timeout=20,
        what="resolve",
    )
    assert sum("unreachable" in t for t in titles(receiver)) == 1
    assert daemon.stop() == 0


def test_sigterm_exits_zero_within_the_bound(daemon: Daemon, sim: SimServer) -> None:
    """SIGTERM finishes in-flight polls (here a hanging provider) and exits 0 within the grace."""
    sim.set_fault("credits-key-123456", "hang")
    daemon.start()
    wait_until(lambda: daemon.polls("credits") >= 1, what="first poll")
    asked = sim.requests_for("credits-key-123456")
    wait_until(lambda: sim.requests_for("credits-key-123456") > asked, what="a poll in flight")
    in_flight = daemon.polls("credits") + 1
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.proc is not None
    assert daemon.proc.wait(timeout=20) == 0
    assert time.monotonic() - started < 12
    assert daemon.events("stopped")
    assert daemon.polls("credits") == in_flight  # finished (by its deadline) and recorded
    assert not [e for e in daemon.events() if "raised an exception" in str(e.get("event"))]


def test_sighup_keeps_the_old_config_when_the_new_is_broken(daemon: Daemon, sim: SimServer) -> None:
    """A broken config on SIGHUP is logged and refused; polling goes on with the old one."""
    daemon.start()
    wait_until(lambda: daemon.polls("shop") >= 1, what="first poll")
    daemon.write_config(broken=True)
    daemon.signal(signal.SIGHUP)
    wait_until(lambda: bool(daemon.events("reload_failed")), what="reload_failed")
    seen = sim.requests_for("credits-key-123456")
    wait_until(lambda: sim.requests_for("credits-key-123456") >= seen + 2, what="polling goes on")
    assert daemon.proc is not None
    assert daemon.proc.poll() is None
    assert daemon.stop() == 0


def test_sighup_applies_a_new_interval(daemon: Daemon, sim: SimServer) -> None:
    """A valid config on SIGHUP is swapped in: a 1 h interval stops the every-second polls."""
    daemon.start()
    wait_until(lambda: sim.requests_for("shop-key-123456") >= 2, what="polls at 1s")
    daemon.write_config(interval="1h")
    daemon.signal(signal.SIGHUP)
    wait_until(lambda: bool(daemon.events("reloaded")), what="reloaded")
    seen = sim.requests_for("shop-key-123456")
    time.sleep(3)  # a negative check: nothing may happen during three former intervals
    assert sim.requests_for("shop-key-123456") <= seen + 1
    assert daemon.stop() == 0


def test_notify_protocol_ready_and_watchdog(daemon: Daemon, tmp_path: Path) -> None:
    """READY=1 after the first schedule, then WATCHDOG=1 well within WATCHDOG_USEC."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(15)
    daemon.env = {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "2000000"}
    try:
        daemon.start()
        first = sock.recv(4096).decode()
        assert first.startswith("READY=1")
        sent_at = time.monotonic()
        while sock.recv(4096).decode() != "WATCHDOG=1":
            pass
        assert time.monotonic() - sent_at < 2.0
        daemon.signal(signal.SIGTERM)
        while "STOPPING=1" not in sock.recv(4096).decode():
            pass
        assert daemon.proc is not None
        assert daemon.proc.wait(timeout=20) == 0
    finally:
        sock.close()


def test_demo_runs_to_its_first_alert() -> None:
    """`balancewatch demo` needs no config, keys or network, and shows an alert."""
    result = subprocess.run(
        [sys.executable, "-m", "balancewatch", "demo", "--duration", "16"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "[WARNING] shop-topups: available" in result.stdout
    assert "demo finished" in result.stdout


def test_a_rejected_key_alerts_at_once_and_is_not_retried_in_a_loop(
    daemon: Daemon, sim: SimServer, receiver: JsonReceiver
) -> None:
    """A 401 fires a critical `auth` alert on the first poll; the key is not tried again soon."""
    sim.set_fault("shop-key-123456", "auth")
    daemon.start()
    wait_until(lambda: any("auth" in m.text for m in receiver.messages()), what="the auth alert")
    assert titles(receiver)[0].startswith("[CRITICAL] shop: credentials rejected")
    seen = daemon.polls("credits")
    wait_until(lambda: daemon.polls("credits") >= seen + 3, what="other accounts keep polling")
    assert sim.requests_for("shop-key-123456") == 1
    assert daemon.stop() == 0


def test_metrics_and_healthz_are_served(daemon: Daemon) -> None:
    """`http: {listen}` serves Prometheus metrics with balances, and a healthy /healthz."""
    import urllib.request

    from tests.receivers import free_port

    port = free_port()
    daemon.write_config(extra=f"http:\n  listen: 127.0.0.1:{port}\n")
    daemon.start()
    wait_until(lambda: daemon.polls("shop") >= 1 and daemon.polls("credits") >= 1, what="polls")
    base = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert 'balancewatch_balance{account="shop",currency="DZD",kind="available"} 6000.0' in text
    assert "balancewatch_poll_duration_seconds_bucket" in text
    assert "balancewatch_outbox_depth" in text
    assert "balancewatch_last_reload_ok 1.0" in text
    assert "_created" not in text
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
        assert response.status == 200
        assert response.read() == b"ok\n"
    assert daemon.stop() == 0


def test_a_corrupt_state_file_is_moved_aside_and_reported_once(
    daemon: Daemon, receiver: JsonReceiver
) -> None:
    """Garbage in state.db: the daemon starts anyway, moves it aside, and sends one warning."""
    (daemon.workdir / "state.db").write_bytes(b"this is not a database" * 100)
    daemon.start()
    wait_until(lambda: bool(receiver.messages()), what="the state reset warning")
    assert "state reset: a repeat notification is possible" in titles(receiver)[0]
    assert list(daemon.workdir.glob("state.db.corrupt-*"))
    seen = daemon.polls("shop")
    wait_until(lambda: daemon.polls("shop") >= seen + 2, what="polling")
    assert len(receiver.messages()) == 1
    assert daemon.stop() == 0


def test_a_daemon_without_http_loads_neither_the_page_nor_postgresql() -> None:
    """Jinja2 and aiohttp's server (~13 MB) are imported only when `http:` serves the page,
    psycopg only for a PostgreSQL state: the daemon's modules import neither."""
    code = (
        "import sys, balancewatch.daemon.service\n"
        "print(sorted(m for m in ('jinja2', 'aiohttp.web', 'psycopg') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
