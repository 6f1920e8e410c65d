"""The systemd side: the unit's sandbox score and the notify protocol, without booting systemd."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from balancewatch.daemon.sdnotify import Notifier

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "balancewatch.service"


def test_unit_exposure_score_is_at_most_1_5() -> None:
    """`systemd-analyze security --offline=true` rates the shipped unit 1.5 or better."""
    tool = shutil.which("systemd-analyze")
    assert tool is not None, ".ci/run installs systemd; systemd-analyze must exist"
    out = subprocess.run(
        [tool, "security", "--offline=true", str(UNIT)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    assert match is not None, out[-500:]
    assert float(match.group(1)) <= 1.5


def test_unit_declares_what_the_service_relies_on() -> None:
    """Type=notify with a watchdog, a static user, state and config directories, a
    validated reload, no restart on a config error. tests/test_systemd_unit.py runs it."""
    lines = UNIT.read_text().splitlines()
    for line in (
        "Type=notify",
        "WatchdogSec=60s",
        "User=balancewatch",
        "Group=balancewatch",
        "StateDirectory=balancewatch",
        "ConfigurationDirectory=balancewatch",
        "EnvironmentFile=-/etc/balancewatch/env",
        "#   LoadCredential=oneclickdz_api_key:/etc/balancewatch/credentials/oneclickdz_api_key",
        "ExecReload=+/usr/bin/env CREDENTIALS_DIRECTORY=/proc/1/root%d "
        "/opt/balancewatch/bin/balancewatch validate -c ${CONFIGURATION_DIRECTORY}/config.yaml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "RestartPreventExitStatus=2",
        "Documentation=file:/opt/balancewatch/share/doc/balancewatch/service.md",
        "MemoryDenyWriteExecute=yes",
        "SystemCallFilter=@system-service",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    ):
        assert line in lines, line
    assert not [line for line in lines if line.startswith(("DynamicUser=", "ExecStartPre="))]


@pytest.fixture
def notify_socket(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    yield path, sock
    sock.close()


def test_notify_protocol_sends_datagrams_to_the_socket(notify_socket) -> None:  # type: ignore[no-untyped-def]
    """READY, STATUS, RELOADING with MONOTONIC_USEC, WATCHDOG and STOPPING arrive as sent."""
    path, sock = notify_socket
    sd = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "4000000"})
    assert sd.enabled
    assert sd.watchdog_interval == 2.0
    sd.ready("3 account(s)")
    assert sock.recv(4096).decode() == "READY=1\nSTATUS=3 account(s)"
    sd.reloading()
    assert re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=\d+", sock.recv(4096).decode())
    sd.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    sd.stopping()
    assert sock.recv(4096) == b"STOPPING=1"
    sd.close()


def test_notify_does_nothing_without_notify_socket() -> None:
    """Outside systemd every call is a no-op, so the daemon runs the same in a terminal."""
    sd = Notifier({})
    assert not sd.enabled
    assert sd.ready() is False
    assert sd.watchdog_interval is None


def test_watchdog_belongs_to_the_main_pid_only() -> None:
    """WATCHDOG_PID naming another process means the watchdog is not ours to feed."""
    sd = Notifier(
        {"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    )
    assert sd.watchdog_interval is None
