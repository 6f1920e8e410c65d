"""The shipped unit under a real systemd, installed exactly as docs/service.md says.

Debian's systemd boots as PID 1 of its own namespaces (:mod:`tests.systemd_machine`), the
program is pip-installed (not editable) into /opt/balancewatch with Debian's python3, and
the documented commands run in order (:mod:`tests.systemd_install`): the user, the
directories and their modes, the credential with its drop-in, the env file, the check
before starting, the unit. Every command taken from the docs is asserted to be there, word
for word, so the two cannot drift.

The simulator serves the providers on loopback in this process; the namespace shares the
network, so the sandboxed daemon polls it. Needs root (CI runs as root), Debian's
``systemd`` and ``python3-venv``: .ci/run installs them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from balancewatch.sim.server import SimServer
from balancewatch.units import parse_duration
from tests.systemd_install import (
    BIN,
    CONFIG,
    ONECLICK_KEY,
    SUNOR_KEY,
    config_text,
    documented,
    install,
    require_root_and_tools,
    stage_checkout,
)
from tests.systemd_machine import PATH, Machine, boot

pytestmark = [
    pytest.mark.timeout(300),  # the module's first test also pays for the pip install
    pytest.mark.xdist_group("systemd"),  # with --dist loadgroup: one boot, one install
]

UNIT = "balancewatch"
NO_SECRETS = {"PATH": PATH, "LANG": "C.UTF-8"}


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimServer]:
    server = SimServer()
    server.add_account("oneclickdz", ONECLICK_KEY)
    server.add_account("sunor", SUNOR_KEY)
    with server:
        yield server


@pytest.fixture(scope="module")
def machine(simulator: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machine]:
    """One booted systemd with balancewatch installed as documented, for the whole module."""
    require_root_and_tools()
    work = tmp_path_factory.mktemp("systemd")
    stage_checkout(work / "src")
    with boot(work) as booted:
        install(booted, simulator)
        yield booted


@pytest.fixture
def unit(machine: Machine, simulator: SimServer) -> Iterator[Machine]:
    """Each test starts from a stopped unit and the one-account config, and leaves it so."""
    machine.write(CONFIG, config_text(simulator))
    yield machine
    machine.sh(f"systemctl stop {UNIT}; systemctl reset-failed {UNIT}")
    machine.write(CONFIG, config_text(simulator))


def _polled(unit: Machine, simulator: SimServer, key: str, since: int) -> None:
    unit.wait_until(
        f"a poll with {key} reached the simulator",
        lambda: simulator.requests_for(key) > since,
        unit=UNIT,
    )


def _start(unit: Machine, simulator: SimServer) -> str:
    """Start the unit (as documented) and wait for its first poll; returns the journal cursor."""
    cursor = unit.cursor()
    before = simulator.requests_for(ONECLICK_KEY)
    start = unit.sh(documented(f"systemctl enable --now {UNIT}"))
    assert start.returncode == 0, f"{start.text}\n{unit.diagnostics(UNIT)}"
    _polled(unit, simulator, ONECLICK_KEY, before)
    return cursor


def test_the_shipped_unit_polls_reloads_and_stops_cleanly(
    unit: Machine, simulator: SimServer
) -> None:
    """Started, the unit is active (READY=1) and polls with its credential; a reload
    validates and applies a new account whose key comes from the env file; a stop ends
    with exit status 0. systemd left /etc/balancewatch's owner and mode as installed."""
    cursor = _start(unit, simulator)
    state = unit.show(UNIT, "ActiveState", "SubState", "StatusText")
    assert (state["ActiveState"], state["SubState"]) == ("active", "running")
    assert state["StatusText"].startswith("1 account(s)")
    unit.wait_until(
        "a recorded poll of oneclick-main in the journal",
        lambda: any(
            e.get("event") == "poll" and e.get("account") == "oneclick-main" and e.get("ok")
            for e in unit.events(UNIT, cursor)
        ),
        unit=UNIT,
    )
    modes = unit.must(
        "stat -c '%n %U:%G %a' /etc/balancewatch /etc/balancewatch/config.yaml "
        "/etc/balancewatch/credentials /etc/balancewatch/env /var/lib/balancewatch"
    ).stdout.splitlines()
    assert modes == [
        "/etc/balancewatch root:balancewatch 750",
        "/etc/balancewatch/config.yaml root:balancewatch 640",
        "/etc/balancewatch/credentials root:root 700",
        "/etc/balancewatch/env root:root 600",
        "/var/lib/balancewatch balancewatch:balancewatch 700",
    ]

    unit.write(CONFIG, config_text(simulator, sunor=True))
    before = simulator.requests_for(SUNOR_KEY)
    reload = unit.sh(documented(f"systemctl reload {UNIT}"))
    assert reload.returncode == 0, f"{reload.text}\n{unit.diagnostics(UNIT)}"
    _polled(unit, simulator, SUNOR_KEY, before)
    assert {"event": "reloaded", "accounts": 2}.items() <= _last(unit, "reloaded", cursor).items()
    assert unit.show(UNIT, "StatusText")["StatusText"].startswith("2 account(s)")

    # systemd logs how the main process ended only at debug level, and zeroes ExecMainCode
    # once the unit is inactive; a process killed by SIGTERM would count as success too.
    unit.must("systemctl log-level debug")
    stop = unit.sh(f"systemctl stop {UNIT}")
    unit.must("systemctl log-level info")
    assert stop.returncode == 0, stop.text
    state = unit.show(UNIT, "ActiveState", "Result")
    assert state == {"ActiveState": "inactive", "Result": "success"}
    journal = unit.journal(UNIT, cursor)
    assert "Main process exited, code=exited, status=0/SUCCESS" in journal, journal[-3000:]
    assert _last(unit, "stopped", cursor)


def _last(unit: Machine, event: str, cursor: str) -> dict[str, object]:
    found = [e for e in unit.events(UNIT, cursor) if e.get("event") == event]
    assert found, f"no {event!r} event\n{unit.diagnostics(UNIT)}"
    return found[-1]


def test_a_reload_refuses_a_broken_config_and_the_running_one_keeps_polling(
    unit: Machine, simulator: SimServer
) -> None:
    """`systemctl reload` with a broken file fails, naming the mistake in the journal; the
    daemon never gets the SIGHUP and goes on polling with the config it had."""
    cursor = _start(unit, simulator)
    unit.write(CONFIG, config_text(simulator, broken=True))
    reload = unit.sh(f"systemctl reload {UNIT}")
    assert reload.returncode != 0, reload.text
    assert f"{CONFIG}:11: bogus: unknown key 'bogus'" in unit.journal(UNIT, cursor)
    assert unit.show(UNIT, "ActiveState")["ActiveState"] == "active"
    events = {e.get("event") for e in unit.events(UNIT, cursor)}
    assert not events & {"reloaded", "reload_failed"}, "the daemon got a SIGHUP"
    _polled(unit, simulator, ONECLICK_KEY, simulator.requests_for(ONECLICK_KEY))


def test_a_broken_config_fails_the_start_once_and_is_not_restarted(
    unit: Machine, simulator: SimServer
) -> None:
    """Exit status 2 (config error) stops the unit in `failed` with no restart scheduled
    (RestartPreventExitStatus=2): after longer than RestartSec it has still not restarted,
    and the journal says why it failed."""
    unit.write(CONFIG, config_text(simulator, broken=True))
    cursor = unit.cursor()
    before = simulator.requests_for(ONECLICK_KEY)
    start = unit.sh(f"systemctl start {UNIT}")
    assert start.returncode != 0, start.text
    props = ("ActiveState", "SubState", "Result", "ExecMainStatus", "NRestarts")
    failed = {
        "ActiveState": "failed",
        "SubState": "failed",  # a scheduled restart would show "auto-restart"
        "Result": "exit-code",
        "ExecMainStatus": "2",
        "NRestarts": "0",
    }
    assert unit.show(UNIT, *props) == failed, unit.diagnostics(UNIT)
    problem = _last(unit, "config_error", cursor)["problem"]
    assert f"{CONFIG}:11: bogus: unknown key 'bogus'" in str(problem)

    restart_sec = parse_duration(unit.show(UNIT, "RestartUSec")["RestartUSec"])
    unit.holds_for(
        "failed, with no restart",
        lambda: unit.show(UNIT, *props) == failed,
        unit=UNIT,
        seconds=restart_sec.total_seconds() + 1.5,
    )
    assert simulator.requests_for(ONECLICK_KEY) == before


def test_everyday_commands_run_as_the_service_user_without_any_secret(
    unit: Machine, simulator: SimServer
) -> None:
    """status, history, silence and replay, run as `balancewatch` with nothing but PATH in
    the environment, read the running service's state; the silence they write is the
    service's user's, and status shows it."""
    _start(unit, simulator)

    documented(f"runuser -u balancewatch -- {BIN} status")

    def as_service_user(command: str) -> str:
        """The documented sudo line, run with runuser (no sudo here) and no secret around."""
        line = documented(f"sudo -u balancewatch {BIN} {command}")
        line = line.replace("sudo -u balancewatch", "runuser -u balancewatch --")
        result = unit.sh(line, env=NO_SECRETS)
        assert result.returncode == 0, result.text
        return result.stdout

    assert "oneclick-main" in as_service_user("status")
    history = as_service_user("history oneclick-main --since 1d --csv").splitlines()
    assert history[0] == "taken_at,currency,available,pending,held,total"
    assert history[1:], "the polls the service recorded"
    silenced = as_service_user('silence oneclick-main --for 2h --reason "bank migration"')
    assert silenced.startswith("silence #")
    assert "bank migration" in as_service_user("status")
    as_service_user("replay oneclick-main --since 7d")
    foreign = unit.must("find /var/lib/balancewatch ! -user balancewatch").stdout
    assert foreign == ""


def _fingerprint() -> dict[str, object]:
    files = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return {
        "files": {f: hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files},
        "dev": sorted(os.listdir("/dev")),
        "mounts": sorted(mounts),
    }


def test_the_test_boot_leaves_the_host_untouched(tmp_path: Path) -> None:
    """What systemd and the install do inside (a user, files in /tmp, /etc, /var, /opt,
    /run, /dev) stays inside: the host's /tmp is not even visible there, and after the
    teardown the host's accounts, /dev and mount table are as they were."""
    require_root_and_tools()
    before = _fingerprint()
    fd, canary = tempfile.mkstemp(prefix="balancewatch-canary-", dir="/tmp")
    os.close(fd)
    inside = f"/tmp/balancewatch-inside-{os.getpid()}"
    try:
        with boot(tmp_path / "work") as machine:
            machine.must(f"test ! -e {canary}")
            machine.must(
                "useradd --system --no-create-home balancewatch-canary && "
                f"touch {inside} /etc/bw-canary /var/lib/bw-canary /opt/bw-canary "
                "/run/bw-canary /dev/bw-canary"
            )
        assert Path(canary).exists()
        assert not Path(inside).exists()
        for path in ("/etc/bw-canary", "/var/lib/bw-canary", "/opt/bw-canary", "/run/bw-canary"):
            assert not Path(path).exists(), path
        assert _fingerprint() == before
    finally:
        os.unlink(canary)
