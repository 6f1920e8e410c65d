"""Prometheus metrics exist only when `http:` serves them, for the daemon's whole life.

The in-process tests poll the simulator through :meth:`Daemon.poll_account` (the path a
scheduled run takes) and look at what the daemon holds; the process tests check that a
reload neither starts nor stops the endpoint, as before metrics became optional.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from balancewatch.config.load import parse_config
from balancewatch.daemon.metrics import Metrics
from balancewatch.daemon.service import Daemon, utcnow
from balancewatch.model import Severity, TransientError
from balancewatch.poll.plan import make_plan
from balancewatch.providers import make_client
from balancewatch.sim.server import SimServer
from balancewatch.state.sqlite import SqliteStore
from tests.conftest import KEYS
from tests.daemon.test_service import Daemon as DaemonProcess
from tests.daemon.watching import wait_until
from tests.receivers import JsonReceiver, free_port

CONFIG = """\
state:
  path: {db}
accounts:
  - name: shop
    provider: oneclickdz
    api_key: {key}
    base_url: {url}
    rules:
      - threshold: {{below: {{warning: 5000}}}}
"""
HTTP = "http:\n  listen: 127.0.0.1:{port}\n"


def polled_daemon(tmp_path: Path, sim: SimServer, extra: str = "") -> Daemon:
    """A daemon that has polled its one account twice, as scheduled runs do."""
    text = CONFIG.format(
        db=tmp_path / "state.db", key=KEYS["oneclickdz"], url=sim.base_url("oneclickdz")
    )
    config = parse_config(text + extra)
    daemon = Daemon(
        config,
        SqliteStore.open(tmp_path / "state.db", now=utcnow()),
        config_path=tmp_path / "config.yaml",
    )

    async def poll_twice() -> None:
        daemon.plans = {a.name: make_plan(a, config.defaults) for a in config.accounts}
        daemon._client = make_client()
        try:
            for _ in range(2):
                await daemon.poll_account("shop")
        finally:
            await daemon._client.aclose()

    try:
        asyncio.run(poll_twice())
    finally:
        daemon._db.shutdown(wait=True)
        daemon.store.close()
    return daemon


def test_without_http_polls_are_recorded_and_no_metrics_are_kept(
    tmp_path: Path, sim: SimServer
) -> None:
    """No `http:`, no endpoint to scrape: the daemon holds no metrics at all."""
    daemon = polled_daemon(tmp_path, sim)
    assert daemon.metrics is None
    assert len(daemon.cache.history_for("shop", daemon.plans["shop"], utcnow())) == 1
    assert daemon.cache.firing_counts() == {Severity.WARNING: 1}


def test_with_http_each_poll_is_counted_per_account(tmp_path: Path, sim: SimServer) -> None:
    """With `http:`, the per-account poll counter, balances and firing counts follow polls."""
    daemon = polled_daemon(tmp_path, sim, HTTP.format(port=free_port()))
    assert daemon.metrics is not None
    text = daemon.metrics.render().decode()
    assert 'balancewatch_polls_total{account="shop"} 2.0' in text
    assert 'balancewatch_balance{account="shop",currency="DZD",kind="available"}' in text
    assert 'balancewatch_poll_duration_seconds_count{provider="oneclickdz"} 2.0' in text
    assert 'balancewatch_alerts_firing{severity="warning"} 1.0' in text
    assert 'balancewatch_alerts_firing{severity="critical"} 0.0' in text


def test_metrics_export_no_created_series(tmp_path: Path, sim: SimServer) -> None:
    """`/metrics` has counters' `_total` and histograms' buckets, but no `*_created` series
    (prometheus_client's creation timestamps, exported as gauges in the text format)."""
    daemon = polled_daemon(tmp_path, sim, HTTP.format(port=free_port()))
    assert daemon.metrics is not None
    daemon.metrics.observe_poll("shop", "oneclickdz", TransientError("timeout"), 0.5, {})
    text = daemon.metrics.render().decode()
    assert "_created" not in text
    for present in (
        'balancewatch_polls_total{account="shop"} 3.0',
        'balancewatch_poll_errors_total{account="shop",kind="transient"} 1.0',
        'balancewatch_poll_duration_seconds_bucket{le="+Inf",provider="oneclickdz"} 3.0',
        'balancewatch_poll_duration_seconds_count{provider="oneclickdz"} 3.0',
        'balancewatch_poll_duration_seconds_sum{provider="oneclickdz"}',
        "# TYPE balancewatch_deliveries_failed_total counter",
        "balancewatch_deliveries_failed_total 0.0",
    ):
        assert present in text


def test_leaving_out_created_series_changes_no_other_registry() -> None:
    """The filter is ours alone: another registry in the process keeps its `_created`."""
    from prometheus_client import CollectorRegistry, Counter, generate_latest

    assert b"_created" not in Metrics().render()
    other = CollectorRegistry()
    Counter("other_events", "Events", registry=other).inc()
    assert b"other_events_created" in generate_latest(other)


def test_a_failed_poll_counts_as_an_error_of_its_kind() -> None:
    """A failure increments the account's error counter by kind and reports no balance."""
    metrics = Metrics()
    metrics.observe_poll("shop", "oneclickdz", TransientError("timeout"), 0.5, {})
    text = metrics.render().decode()
    assert 'balancewatch_poll_errors_total{account="shop",kind="transient"} 1.0' in text
    assert "balancewatch_balance{" not in text


def test_a_removed_account_takes_its_series_with_it() -> None:
    metrics = Metrics()
    for account in ("shop", "shopfront"):
        metrics.observe_poll(account, "oneclickdz", TransientError("timeout"), 0.5, {})
    metrics.balance.labels("shop", "DZD", "available").set(10)
    metrics.balance.labels("shopfront", "DZD", "available").set(20)

    metrics.forget("shop")

    text = metrics.render().decode()
    assert 'account="shop"' not in text
    assert 'balancewatch_balance{account="shopfront",currency="DZD",kind="available"} 20.0' in text
    assert 'balancewatch_polls_total{account="shopfront"} 1.0' in text


# ---------------------------------------------------------------- reload, as a process


@pytest.fixture
def process(tmp_path: Path) -> Iterator[DaemonProcess]:
    server = SimServer().start_in_thread()
    server.add_account("oneclickdz", "shop-key-123456", balances={"DZD": {"available": 6000}})
    server.add_account("sunor", "credits-key-123456", balances={"CREDITS": {"available": 950}})
    with JsonReceiver() as receiver:
        daemon = DaemonProcess(tmp_path, server, receiver)
        yield daemon
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()
    server.stop_thread()


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_a_reload_that_removes_http_keeps_serving_metrics(process: DaemonProcess) -> None:
    """`http:` is read at start only: removing it and reloading leaves /metrics up."""
    port = free_port()
    process.write_config(extra=HTTP.format(port=port))
    process.start()
    wait_until(lambda: process.polls("shop") >= 1, what="first poll")
    process.write_config()
    process.signal(signal.SIGHUP)
    wait_until(lambda: bool(process.events("reloaded")), what="reloaded")
    seen = process.polls("shop")
    wait_until(lambda: process.polls("shop") >= seen + 1, what="a poll after the reload")
    text = scrape(port)
    assert "balancewatch_last_reload_ok 1.0" in text
    assert 'balancewatch_polls_total{account="shop"}' in text
    assert process.stop() == 0


def test_a_reload_that_adds_http_starts_no_endpoint(process: DaemonProcess) -> None:
    """Without `http:` at start there are no metrics; adding it needs a restart."""
    port = free_port()
    process.write_config()
    process.start()
    wait_until(lambda: process.polls("shop") >= 1, what="first poll")
    process.write_config(extra=HTTP.format(port=port))
    process.signal(signal.SIGHUP)
    wait_until(lambda: bool(process.events("reloaded")), what="reloaded")
    seen = process.polls("shop")
    wait_until(lambda: process.polls("shop") >= seen + 1, what="a poll after the reload")
    assert not listening(port)
    assert process.stop() == 0


def test_each_acknowledged_alert_is_a_gauge_of_when_and_by_whom() -> None:
    """One series per acknowledgement in force, read at each scrape: gone once it stops
    holding; no `_created` sample."""
    from datetime import UTC, datetime

    from balancewatch.records import Acknowledgement

    at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    ack = Acknowledgement("shop", "threshold:DZD", at, Severity.CRITICAL, at, "ana")
    metrics = Metrics()
    held = [ack]
    metrics.acknowledged = lambda: list(held)
    text = metrics.render().decode()
    name = "balancewatch_alert_acknowledged_timestamp_seconds"
    assert f'{name}{{account="shop",alert="threshold:DZD",by="ana"}} 1.796112e+09' in text
    assert "_created" not in text
    held.clear()
    assert f"{name}{{" not in metrics.render().decode()
