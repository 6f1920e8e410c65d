"""Watching the watcher with one daemon on SQLite: the ``heartbeat:`` URL is fetched while
the daemon is healthy (its token never logged), and ``status`` lists the one daemon and
what it holds. A real process against the simulator and a local HTTP server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from balancewatch.sim.server import SimServer
from tests.conftest import ScriptedServer, sim_accounts
from tests.daemon.watching import wait_until

TOKEN = "0f3c9a7e-5d2b-4c1e-9a8f-7b6d5e4c3b2a"


def test_the_heartbeat_url_is_fetched_while_healthy_and_status_lists_the_daemon(
    tmp_path: Path,
    sim: SimServer,
    scripted: ScriptedServer,
    write_config: Callable[..., Path],
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """Every second a GET to the heartbeat URL; its token is in no log line; `status`
    shows the daemon (host, pid, heartbeat) holding the accounts; a clean stop leaves."""
    accounts: list[dict[str, Any]] = sim_accounts(sim)
    for account in accounts:
        account["interval"] = "1s"
    config = write_config(
        accounts,
        timeout="800ms",
        heartbeat={"url": f"{scripted.url}/ping/{TOKEN}", "every": "1s"},
    )
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "balancewatch", "-c", str(config), "run"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        wait_until(lambda: len(scripted.received) >= 2, timeout=20, what="two pings")
        assert {r.method for r in scripted.received} == {"GET"}
        assert scripted.received[0].path == f"/ping/{TOKEN}"
        status = run_cli(config, "status", "--json")
        assert status.returncode == 0, status.stderr
        daemons = json.loads(status.stdout)["daemons"]
        assert [d["pid"] for d in daemons] == [daemon.pid]
        wait_until(
            lambda: len(json.loads(run_cli(config, "status", "--json").stdout)["daemons"][0]
                        ["holds"]) == len(accounts),
            timeout=20,
            what="the daemon holding every account",
        )  # fmt: skip
        text = run_cli(config, "status").stdout
        assert "DAEMONS" in text
        assert f":{daemon.pid}: heartbeat" in text
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    assert TOKEN not in log.read_text()
    assert json.loads(run_cli(config, "status", "--json").stdout)["daemons"] == []
