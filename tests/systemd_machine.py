"""A real systemd (Debian's, as PID 1) in its own namespaces, for tests/test_systemd_unit.py.

:func:`boot` runs ``tests/systemd_boot.sh`` (which says what is isolated and why) and yields a
:class:`Machine`: commands run inside through ``nsenter`` as root, with a clean environment.
Teardown always SIGKILLs PID 1 from outside (PID 1 systemd answers SIGTERM by re-executing
itself, not by exiting), which ends every process of the namespace, then waits for the boot
script to remove its cgroup.

Waits poll real state (systemd's, the journal's, the simulator's) against a deadline; each
failure message carries ``systemctl status`` and the journal of the unit.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BOOT_SCRIPT = Path(__file__).with_name("systemd_boot.sh")
SYSTEMD = Path("/lib/systemd/systemd")
UNIT_SOURCES = Path("/lib/systemd/system")

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""Debian's PATH for root: the commands of docs/service.md run with it, nothing else."""

TARGETS = ("sysinit", "basic", "sockets", "shutdown", "multi-user", "network-online")
"""Empty stand-ins for the targets a service's default dependencies name."""


def host_environment() -> dict[str, str]:
    """What a root shell on this host would have: PATH, locale, and pip's own settings."""
    env = {"PATH": PATH, "LANG": "C.UTF-8", "HOME": "/root"}
    for name, value in os.environ.items():
        if name.startswith("PIP_") or name.lower().endswith("_proxy"):
            env[name] = value
    return env


def _write_units(units: Path) -> None:
    """Only what the test needs: a default target, the targets above, and journald."""
    units.mkdir()
    (units / "default.target").write_text(
        "[Unit]\nDescription=balancewatch test boot\n"
        "Wants=systemd-journald.socket systemd-journald.service\n"
    )
    for name in TARGETS:
        (units / f"{name}.target").write_text(f"[Unit]\nDescription={name} (test boot)\n")
    # journald, so that `journalctl -u balancewatch` works as docs/service.md says. Not its
    # dev-log socket: that one symlinks /dev/log.
    for name in ("systemd-journald.service", "systemd-journald.socket"):
        shutil.copy(UNIT_SOURCES / name, units / name)


@dataclass
class Result:
    """One command's outcome; ``text`` is stdout and stderr together, for messages."""

    args: Sequence[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return f"$ {' '.join(self.args)}  (exit {self.returncode})\n{self.stdout}{self.stderr}"


class Machine:
    """The booted namespace: run commands in it, ask systemd, read the journal."""

    def __init__(self, pid1: int, work: Path) -> None:
        self.pid1 = pid1
        self.work = work
        self.root = Path(f"/proc/{pid1}/root")

    def run(
        self,
        args: Sequence[str],
        *,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 30,
    ) -> Result:
        """``args`` as root inside the namespace; never raises on a non-zero exit."""
        argv = [
            "nsenter", f"--target={self.pid1}",
            "--mount", "--pid", "--uts", "--ipc", "--cgroup", "--wd=/", "--", *args,
        ]  # fmt: skip
        proc = subprocess.run(
            argv,
            input=input,
            capture_output=True,
            text=True,
            env=dict(env) if env is not None else host_environment(),
            timeout=timeout,
            check=False,
        )
        return Result(args, proc.returncode, proc.stdout, proc.stderr)

    def sh(self, script: str, *, timeout: float = 30, **kw: Any) -> Result:
        return self.run(["sh", "-ec", script], timeout=timeout, **kw)

    def must(self, script: str, *, timeout: float = 30, **kw: Any) -> Result:
        """:meth:`sh`, asserting success (the message shows the output)."""
        result = self.sh(script, timeout=timeout, **kw)
        assert result.returncode == 0, result.text
        return result

    def write(self, path: str, text: str) -> None:
        """Replace a file's content in place, keeping its owner and mode (as an editor would)."""
        self.must(f'cat > "{path}"', input=text)

    def show(self, unit: str, *props: str) -> dict[str, str]:
        """``systemctl show -p ...``, parsed."""
        out = self.must(f"systemctl show {unit} " + " ".join(f"-p {p}" for p in props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def cursor(self) -> str:
        """The journal's current end; :meth:`journal` reads what comes after it."""
        out = self.must("journalctl --show-cursor -n 0 --no-pager -q").stdout
        return out.strip().removeprefix("-- cursor: ")

    def journal(self, unit: str, after: str | None = None) -> str:
        after_arg = f"--after-cursor='{after}'" if after else ""
        return self.must(f"journalctl -u {unit} -o cat --no-pager {after_arg}").stdout

    def events(self, unit: str, after: str | None = None) -> list[dict[str, Any]]:
        """The daemon's JSON log lines (systemd's own lines in the unit's journal skipped)."""
        found = []
        for line in self.journal(unit, after).splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line))
        return found

    def diagnostics(self, unit: str) -> str:
        status = self.sh(f"systemctl status {unit} --no-pager -l").text
        journal = self.sh(f"journalctl -u {unit} -o short --no-pager -n 60").text
        return f"{status}\n{journal}"

    def wait_until(
        self, what: str, check: Callable[[], bool], *, unit: str, timeout: float = 20
    ) -> None:
        """Poll ``check`` until it holds; else fail saying ``what`` with the unit's state."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"after {timeout:.0f} s, still not: {what}\n{self.diagnostics(unit)}"
                )
            time.sleep(0.1)

    def holds_for(self, what: str, check: Callable[[], bool], *, unit: str, seconds: float) -> None:
        """Poll ``check`` for ``seconds``; fail as soon as it does not hold."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not check():
                raise AssertionError(f"no longer: {what}\n{self.diagnostics(unit)}")
            time.sleep(0.2)


def _wait_for_pid1(proc: subprocess.Popen[str], work: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    pid_file = work / "unshare.pid"
    while time.monotonic() < deadline and proc.poll() is None:
        if pid_file.exists() and pid_file.read_text().strip():
            unshare = int(pid_file.read_text())
            children = Path(f"/proc/{unshare}/task/{unshare}/children")
            with contextlib.suppress(OSError):
                if found := children.read_text().split():
                    return int(found[0])
        time.sleep(0.05)
    if proc.poll() is None:
        raise AssertionError(f"no PID 1 after {timeout:.0f} s")
    errors = proc.stderr.read() if proc.stderr else ""
    raise AssertionError(f"the boot script ended (exit {proc.returncode}): {errors}")


def _wait_running(machine: Machine, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    state = machine.sh("systemctl is-system-running")
    while state.stdout.strip() not in ("running", "degraded"):
        if time.monotonic() > deadline:
            raise AssertionError(f"systemd did not finish booting:\n{state.text}")
        time.sleep(0.1)
        state = machine.sh("systemctl is-system-running")


@contextlib.contextmanager
def boot(work: Path, *, timeout: float = 30) -> Iterator[Machine]:
    """Boot systemd with ``work`` bind-mounted at /run/bwtest; always tear it down."""
    work.mkdir(exist_ok=True)
    _write_units(work / "units")
    (work / "empty").mkdir()
    cgroup = f"balancewatch-test-{os.getpid()}-{time.monotonic_ns()}"
    proc = subprocess.Popen(
        ["setpriv", "--pdeathsig", "TERM", "--",
         "unshare", "--mount", "--propagation", "private", "--",
         "sh", str(BOOT_SCRIPT), "outer", str(work), cgroup],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": PATH},
    )  # fmt: skip
    pid1 = None
    try:
        pid1 = _wait_for_pid1(proc, work, timeout)
        machine = Machine(pid1, work)
        _wait_running(machine, timeout)
        yield machine
    finally:
        if pid1 is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid1, signal.SIGKILL)
        else:
            proc.send_signal(signal.SIGTERM)
        try:
            _, errors = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, errors = proc.communicate()
        assert proc.returncode == 0, f"the boot script's cleanup failed: {errors}"
