"""`python -m balancewatch.sim` serves, tells a user what to do, and is steered from a shell.

Every test runs the simulator as a real subprocess, steers it with the real command line
(`python -m balancewatch.sim set|fault|show|config`, more subprocesses) and reads the
result back over the provider's own wire API with httpx, as a daemon would.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from balancewatch.sim.server import PROVIDERS
from tests.sim.test_server import PATHS, parse, sign, thedex_body

ROOT = Path(__file__).resolve().parents[2]


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "balancewatch.sim", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(process: subprocess.Popen[str], signum: int = signal.SIGTERM) -> tuple[int, str, str]:
    """Signal the simulator; its exit code and what it wrote after the start-up text."""
    process.send_signal(signum)
    out, err = process.communicate(timeout=10)
    return process.returncode, out, err


def steer(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "balancewatch.sim", *args, "--port", str(port)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@dataclass
class Served:
    process: subprocess.Popen[str]
    port: int
    accounts: list[dict[str, Any]]

    def account(self, provider: str) -> dict[str, Any]:
        return next(a for a in self.accounts if a["provider"] == provider)

    def get(self, provider: str, timeout: float = 5) -> httpx.Response:
        """One balance request to the provider's first account, with its real auth."""
        account = self.account(provider)
        url = account["base_url"] + PATHS[provider]
        key = account["api_key"]
        if provider == "thedex":
            body = thedex_body()
            headers = {"X-EX-APIKEY": key, **sign(account["secret"], body)}
            return httpx.post(url, content=body, headers=headers, timeout=timeout)
        header = {"dhmad": "Authorization", "oneclickdz": "X-Access-Token", "sunor": "x-api-key"}
        value = f"Bearer {key}" if provider == "dhmad" else key
        return httpx.get(url, headers={header[provider]: value}, timeout=timeout)


@pytest.fixture
def served() -> Iterator[Served]:
    """`python -m balancewatch.sim --port 0 --json`: 8 accounts, announced as JSON."""
    process = start("--port", "0", "--json")
    assert process.stdout is not None
    announce = json.loads(process.stdout.readline())
    yield Served(process, announce["port"], announce["accounts"])
    if process.poll() is None:
        assert stop(process)[0] == 0


def read_guide(process: subprocess.Popen[str]) -> str:
    """The start-up text, up to its last line (`More: ... --help`)."""
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("More:"):
        line = process.stdout.readline()
        assert line, f"the simulator ended early: {process.stderr and process.stderr.read()}"
        lines.append(line.rstrip("\n"))
    return "\n".join(lines)


# ---------------------------------------------------------------- serving


def test_cli_serves_generated_accounts_until_sigterm(served: Served) -> None:
    """`--json` prints port and accounts on one line, serves them, exits 0 on SIGTERM."""
    assert len(served.accounts) == 8
    assert served.accounts[0]["api_key"] == "sim-dhmad-0000"
    assert {a["provider"] for a in served.accounts} == set(PROVIDERS)
    dex = served.account("thedex")
    assert dex["secret"] == f"secret-{dex['api_key']}"
    assert dex["base_url"] == f"http://127.0.0.1:{served.port}/thedex"
    assert served.get("thedex").status_code == 200
    assert stop(served.process) == (0, "", "")


def test_cli_writes_large_account_lists_to_a_file(tmp_path: Path) -> None:
    """--accounts-file receives the list; stdout carries only the port (and the file's path)."""
    target = tmp_path / "accounts.json"
    process = start("--port", "0", "--json", "--accounts", "1000", "--accounts-file", str(target))
    try:
        assert process.stdout is not None
        announce = json.loads(process.stdout.readline())
        assert "accounts" not in announce
        accounts = json.loads(target.read_text())
        assert len(accounts) == 1000
        assert accounts[-1]["api_key"] == "sim-sunor-0249"
        sunor = accounts[-1]
        response = httpx.get(
            sunor["base_url"] + PATHS["sunor"], headers={"x-api-key": sunor["api_key"]}
        )
        assert response.json()["code"] == 200
    finally:
        assert stop(process)[0] == 0


def test_at_start_it_prints_accounts_a_working_config_and_the_commands_that_steer_it(
    tmp_path: Path,
) -> None:
    """Without --json a person reads each base URL and key, a config that validates, and
    `set`/`fault` commands that name this simulator's port."""
    process = start("--port", "0")
    try:
        guide = read_guide(process)
        port = int(re.search(r"on http://127\.0\.0\.1:(\d+):", guide).group(1))  # type: ignore[union-attr]
        for provider in PROVIDERS:
            assert f"http://127.0.0.1:{port}/{provider}" in guide
            assert f"sim-{provider}-0000" in guide
        assert "(secret secret-sim-thedex-0000)" in guide
        snippet = guide[guide.index("state:") : guide.index("\n\nSteer it")]
        assert [f"  - name: sim-{p}" in snippet for p in PROVIDERS] == [True] * 4
        assert f"python -m balancewatch.sim set oneclickdz available 9500 --port {port}" in guide
        assert f"python -m balancewatch.sim fault sunor 500 --port {port}" in guide
        printed = steer(port, "config")
        assert printed.returncode == 0, printed.stderr
        assert printed.stdout == snippet + "\n"
        (tmp_path / "sim.yaml").write_text(printed.stdout)
        checked = subprocess.run(
            [sys.executable, "-m", "balancewatch", "-c", str(tmp_path / "sim.yaml"), "validate"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr
        assert "OK - 4 account(s), 1 notifier(s)" in checked.stdout
    finally:
        assert stop(process)[0] == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_it_cleanly(signum: int) -> None:
    """SIGINT (Ctrl-C) and SIGTERM end the simulator with exit 0, a last line, no traceback."""
    process = start("--port", "0")
    guide = read_guide(process)
    code, out, err = stop(process, signum)
    assert "Ctrl-C stops it" in guide
    assert (code, out, err) == (0, "balancewatch simulator stopped\n", "")


def test_a_port_in_use_is_one_clear_line() -> None:
    """A taken port: exit 1, the address and a way out on stderr, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "balancewatch.sim", "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.startswith(f"cannot listen on 127.0.0.1:{port}: ")
    assert "--port 0" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# ---------------------------------------------------------------- steering


def test_set_changes_what_the_provider_answers_exactly(served: Served) -> None:
    """`set oneclickdz available 950.00` is what OneClickDz's API answers next, to the cent;
    `--currency` and a held alias reach other kinds (Dhmad's escrow)."""
    done = steer(served.port, "set", "oneclickdz", "available", "950.00")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "oneclickdz  sim-oneclickdz-0000   DZD available 950.00\n"
    response = served.get("oneclickdz")
    assert b'"balance":950.00' in response.content
    assert parse(response)["data"]["balance"] == Decimal("950.00")

    done = steer(served.port, "set", "sim-dhmad-0000", "escrow", "2000.125", "--currency", "TND")
    assert done.returncode == 0, done.stderr
    assert parse(served.get("dhmad"))["balance"]["escrow"] == Decimal("2000.125")

    shown = steer(served.port, "show", "dhmad", "--json")
    assert json.loads(shown.stdout)["balances"]["TND"]["held"] == "2000.125"


def test_a_fault_set_from_the_command_line_is_served_until_cleared(served: Served) -> None:
    """`fault sunor 500|401|429|timeout` is what Sunor answers; `fault sunor none` clears it."""
    assert steer(served.port, "fault", "sunor", "500").returncode == 0
    assert served.get("sunor").status_code == 500
    assert "[fault: http500]" in steer(served.port, "show", "sunor").stdout
    assert steer(served.port, "fault", "sunor", "401").returncode == 0
    assert served.get("sunor").status_code == 401
    assert steer(served.port, "fault", "sunor", "429").returncode == 0
    limited = served.get("sunor")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "30")
    assert steer(served.port, "fault", "sunor", "timeout").returncode == 0
    with pytest.raises(httpx.ReadTimeout):
        served.get("sunor", timeout=0.3)
    cleared = steer(served.port, "fault", "sunor", "none")
    assert cleared.returncode == 0
    assert "fault" not in cleared.stdout
    assert parse(served.get("sunor"))["data"]["available"] == Decimal(85500)
    assert served.get("oneclickdz").status_code == 200  # the other accounts never failed


def test_mistakes_get_one_clear_line_and_change_nothing(served: Served) -> None:
    """An unknown account or fault is refused by the simulator (exit 1); a bad amount or
    kind is a usage error (exit 2); no traceback either way, and the balance is unchanged."""
    refused = {
        ("set", "nobody", "available", "5"): "no simulated account 'nobody'",
        ("fault", "sunor", "flaky"): "unknown fault 'flaky'; expected none, one of 500",
    }
    for args, message in refused.items():
        result = steer(served.port, *args)
        assert (result.returncode, result.stdout) == (1, ""), args
        assert result.stderr.startswith(f"simulator: {message}"), result.stderr
    usage = {
        ("set", "oneclickdz", "available", "9.5e"): "'9.5e' is not an amount",
        ("set", "oneclickdz", "available", "NaN"): "'NaN' is not an amount",
        ("set", "oneclickdz", "avail", "5"): "invalid choice: 'avail'",
    }
    for args, message in usage.items():
        result = steer(served.port, *args)
        assert result.returncode == 2, args
        assert message in result.stderr
        assert "Traceback" not in result.stderr
    assert parse(served.get("oneclickdz"))["data"]["balance"] == Decimal("83546.19")


def test_steering_with_no_simulator_there_says_so() -> None:
    """`set` against a port nobody listens on: exit 1 and how to start the simulator."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connections are refused
        result = steer(port, "set", "oneclickdz", "available", "950")
    assert result.returncode == 1
    assert f"cannot reach the simulator at http://127.0.0.1:{port}" in result.stderr
    assert "is `python -m balancewatch.sim` running" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_documents_the_control_channel() -> None:
    """`--help` shows how to start it, steer it (set, fault, show, config) and curl it."""
    result = subprocess.run(
        [sys.executable, "-m", "balancewatch.sim", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0
    for text in (
        "python -m balancewatch.sim set oneclickdz available 950",
        "python -m balancewatch.sim fault sunor none",
        "/_sim/accounts/oneclickdz",
        "timeout",
        "config",
    ):
        assert text in result.stdout
