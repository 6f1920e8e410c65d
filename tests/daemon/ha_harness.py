"""Several ``balancewatch run`` processes on one PostgreSQL database, for the HA tests.

Each daemon has its own config file, identical but for its ``http: listen`` port (which the
daemons' config hash leaves out), so every daemon's ``/metrics`` and ``/healthz`` can be
read. The simulator records when each request reached each account; :meth:`Fleet.doubles`
finds any account polled twice within one slot (by two daemons).
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from balancewatch.model import StateError
from balancewatch.sim.server import SimServer
from balancewatch.state import Cluster, open_store
from tests.daemon.watching import log_events
from tests.receivers import JsonReceiver, free_port

INTERVAL = 2.0
"""Seconds between polls of an account."""
LEASE = 2 * INTERVAL + 10
"""The default lease at that interval (two intervals and ten seconds)."""
DOUBLE = 0.4
"""Of an interval: two requests to one account closer than this are one slot polled twice.
Two daemons polling one slot would be milliseconds apart; a daemon's own polls are at
least three quarters of an interval apart (its quick first run, then its first slot), less
what the first run's request starts late on a busy start (a few hundred ms at most)."""


def key(account: str) -> str:
    return f"{account}-key-0123456789"


def config_text(
    url: str, port: int, receiver: JsonReceiver, sim: SimServer, accounts: list[str], extra: str
) -> str:
    lines = [
        "state:",
        f"  url: {url}",
        "defaults:",
        f"  interval: {INTERVAL:g}s",
        "  timeout: 800ms",
        "  jitter: 0s",
        "  failures_before_alert: 2",
        "  repeat: 1h",
        "notify:",
        "  timeout: 2s",
        "notifiers:",
        f'  hook: "json://127.0.0.1:{receiver.port}/hook"',
        "http:",
        f"  listen: 127.0.0.1:{port}",
        "accounts:",
    ]
    for name in accounts:
        lines += [
            f"  - name: {name}",
            "    provider: sunor",
            f"    api_key: {key(name)}",
            f"    base_url: {sim.base_url('sunor')}",
            "    rules:",
            "      - threshold: {below: {warning: 500}}",
        ]
    return "\n".join(lines) + "\n" + extra


@dataclass
class Member:
    """One daemon process of the fleet."""

    index: int
    workdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def config(self) -> Path:
        return self.workdir / f"config-{self.index}.yaml"

    @property
    def log(self) -> Path:
        return self.workdir / f"daemon-{self.index}-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "balancewatch", "run", "-c", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={k: v for k, v in os.environ.items() if k != "BALANCEWATCH_CONFIG"},
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def events(self, name: str | None = None) -> list[dict[str, object]]:
        """Every JSON log line of every start of this daemon, oldest first."""
        starts = range(1, self.starts + 1)
        return log_events((self.workdir / f"daemon-{self.index}-{i}.log" for i in starts), name)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""

    def metric(self, name: str) -> float | None:
        """A sample of ``/metrics`` without labels, or None if it cannot be read."""
        status, text = self.get("/metrics")
        if status != 200:
            return None
        found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        return float(found.group(1)) if found else None


@dataclass
class Fleet:
    """N daemons, one config, one database, one simulator, one receiver."""

    workdir: Path
    url: str
    sim: SimServer
    receiver: JsonReceiver
    accounts: list[str]
    members: list[Member] = field(default_factory=list)

    def write_configs(self, count: int, extra: str = "") -> None:
        while len(self.members) < count:
            self.members.append(Member(len(self.members), self.workdir, free_port()))
        for member in self.members:
            self.write_config(member, extra)

    def write_config(self, member: Member, extra: str = "") -> None:
        member.config.write_text(
            config_text(self.url, member.port, self.receiver, self.sim, self.accounts, extra)
        )

    def cluster(self) -> Cluster:
        """What ``status`` shows of the daemons (nobody, before the first one made the schema)."""
        try:
            store = open_store(self.url, now=datetime.now(UTC), readonly=True, pool_size=1)
        except StateError:
            return Cluster(datetime.now(UTC), [], [])
        try:
            return store.cluster()
        finally:
            store.close()

    def owner(self, member: Member) -> str | None:
        """The daemon id ``member``'s current process heartbeats under."""
        return next((m.id for m in self.cluster().members if m.pid == member.pid), None)

    def held(self, member: Member) -> list[str]:
        owner = self.owner(member)
        return self.cluster().held_by(owner) if owner else []

    def requests(self, account: str) -> list[float]:
        return self.sim.request_times(key(account))

    def doubles(self, since: float = 0.0) -> dict[str, list[float]]:
        """Accounts with two requests closer than :data:`DOUBLE` intervals (after ``since``)."""
        found = {}
        for account in self.accounts:
            times = [t for t in self.requests(account) if t >= since]
            gaps = [b - a for a, b in itertools.pairwise(times)]
            if any(gap < DOUBLE * INTERVAL for gap in gaps):
                found[account] = gaps
        return found

    def polled_since(self, since: float) -> set[str]:
        return {a for a in self.accounts if any(t >= since for t in self.requests(a))}

    def stop_all(self) -> None:
        for member in self.members:
            if member.alive():
                member.stop()

    def kill_all(self) -> None:
        for member in self.members:
            if member.proc is not None and member.proc.poll() is None:
                member.proc.send_signal(signal.SIGCONT)
            member.kill()
