"""docs/service.md's install, run in a :class:`~tests.systemd_machine.Machine`.

Every command taken from the docs goes through :func:`documented`, which asserts that the
docs still say it word for word (placeholders such as the key are filled in afterwards),
so the docs and tests/test_systemd_unit.py cannot drift apart.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest

from balancewatch.sim.server import SimServer
from tests.systemd_machine import SYSTEMD, Machine

REPO = Path(__file__).resolve().parents[1]
DOCS = (REPO / "docs" / "service.md").read_text()
BIN = "/opt/balancewatch/bin/balancewatch"
CONFIG = "/etc/balancewatch/config.yaml"
ONECLICK_KEY = "ocd-systemd-test-key"
SUNOR_KEY = "sunor-systemd-test-key"


def documented(command: str, **placeholders: str) -> str:
    """``command`` as docs/service.md writes it, with its placeholders filled in."""
    assert command in DOCS, f"docs/service.md no longer says: {command}"
    for placeholder, value in placeholders.items():
        command = command.replace(placeholder, value)
    return command


def config_text(sim: SimServer, *, sunor: bool = False, broken: bool = False) -> str:
    """The operator's edit of the example: one account by credential, one by env variable."""
    text = textwrap.dedent(f"""\
        state:
          path: /var/lib/balancewatch/state.db
        defaults:
          interval: 2s
          timeout: 1s
        accounts:
          - name: oneclick-main
            provider: oneclickdz
            api_key: credential:oneclickdz_api_key
            base_url: {sim.base_url("oneclickdz")}
        """)
    if sunor:
        text += textwrap.indent(
            textwrap.dedent(f"""\
                - name: sunor-credits
                  provider: sunor
                  api_key: ${{SUNOR_API_KEY}}
                  base_url: {sim.base_url("sunor")}
                """),
            "  ",
        )
    return text + ("bogus: 1\n" if broken else "")


def require_root_and_tools() -> None:
    if os.geteuid() != 0:
        pytest.fail(
            "tests/test_systemd_unit.py boots systemd in its own namespaces and needs root "
            "(CI runs as root): run it as root"
        )
    tools = ("unshare", "nsenter", "setpriv", "runuser")
    missing = [
        package
        for package, present in (
            ("systemd", SYSTEMD.exists()),
            ("python3-venv", any(Path("/usr/lib").glob("python3*/ensurepip/__init__.py"))),
            ("util-linux", all(shutil.which(tool) for tool in tools)),
        )
        if not present
    ]
    if missing:
        pytest.fail(f"missing Debian package(s): {', '.join(missing)} (.ci/run installs them)")


def stage_checkout(target: Path) -> None:
    """A copy of the checkout: pip builds in the source tree, and must not write in ours."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md", "config.example.yaml"):
        shutil.copy(REPO / name, target / name)
    for name in ("balancewatch", "docs", "systemd"):
        shutil.copytree(REPO / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))


def install(machine: Machine, sim: SimServer) -> None:
    """docs/service.md §1-§6 up to the start, in order."""
    _install_program(machine)
    _create_user_and_config(machine, sim)
    _give_secrets(machine)
    _check_before_starting(machine)
    unit_file = "/opt/balancewatch/share/balancewatch/balancewatch.service"
    machine.must(documented(f"install -m 0644 {unit_file} /etc/systemd/system/"))
    installed = machine.root / "etc/systemd/system/balancewatch.service"
    assert installed.read_bytes() == (REPO / "systemd" / "balancewatch.service").read_bytes()
    machine.must(documented("systemctl daemon-reload"))


def _install_program(machine: Machine) -> None:
    """§1: a venv of Debian's python3, a real (not editable) pip install of the checkout."""
    documented("apt-get install -y python3 python3-venv")
    machine.must("dpkg -s python3 python3-venv >/dev/null")
    machine.must(documented("/usr/bin/python3 -m venv /opt/balancewatch"))
    pip = documented(
        "/opt/balancewatch/bin/pip install /path/to/balancewatch",
        **{"/path/to/balancewatch": "/run/bwtest/src"},
    )
    machine.must(pip, timeout=240)
    assert "balancewatch" in machine.must(documented(f"{BIN} --version")).stdout
    docs = machine.must("ls /opt/balancewatch/share/doc/balancewatch").stdout.split()
    assert docs == ["README.md", "service.md"], "the files the unit's Documentation= names"


def _create_user_and_config(machine: Machine, sim: SimServer) -> None:
    """§2 and §3: the system user, the config directory and file with their modes."""
    machine.must(
        documented(
            "useradd --system --user-group --no-create-home --home-dir /nonexistent "
            "--shell /usr/sbin/nologin balancewatch"
        )
    )
    machine.must(documented("install -d -o root -g balancewatch -m 0750 /etc/balancewatch"))
    example = "/opt/balancewatch/share/balancewatch/config.example.yaml"
    machine.must(documented(f"install -o root -g balancewatch -m 0640 {example} {CONFIG}"))
    machine.write(CONFIG, config_text(sim, sunor=True))  # the $EDITOR step


def _give_secrets(machine: Machine) -> None:
    """§4, both ways: oneclick's key as a credential with its drop-in, sunor's in the env file."""
    machine.must(documented("install -d -o root -g root -m 0700 /etc/balancewatch/credentials"))
    credential = "/etc/balancewatch/credentials/oneclickdz_api_key"
    key = {"the-oneclickdz-key": ONECLICK_KEY}
    machine.must(documented(f"printf '%s' 'the-oneclickdz-key' > {credential}", **key))
    machine.must(documented("chmod 0600 /etc/balancewatch/credentials/*"))
    dropins = "/etc/systemd/system/balancewatch.service.d"
    machine.must(documented(f"install -d {dropins}"))
    dropin = documented(f"[Service]\nLoadCredential=oneclickdz_api_key:{credential}\n")
    machine.must(documented(f"cat > {dropins}/credentials.conf"), input=dropin)
    machine.must(documented("install -o root -g root -m 0600 /dev/null /etc/balancewatch/env"))
    machine.must(documented("cat >> /etc/balancewatch/env"), input=f"SUNOR_API_KEY={SUNOR_KEY}\n")


def _check_before_starting(machine: Machine) -> None:
    """§5 as root, with the secrets exported as documented; it must leave no state behind."""
    script = "\n".join(
        documented(line)
        for line in (
            "set -a; . /etc/balancewatch/env; set +a",
            "export CREDENTIALS_DIRECTORY=/etc/balancewatch/credentials",
            f"{BIN} validate -c {CONFIG}",
            f"{BIN} check -c {CONFIG}",
        )
    )
    machine.must(script)
    leftover = machine.sh("test -e /var/lib/balancewatch")
    assert leftover.returncode != 0, "check as root created /var/lib/balancewatch"
