"""A throwaway PostgreSQL cluster for the tests: ``initdb`` + ``pg_ctl`` in a temp dir.

One cluster per test process (per xdist worker), on a free loopback port, trusted on
127.0.0.1 only, with a Unix socket in its own directory. As root (CI) the server runs as
``nobody`` through ``setpriv`` (PostgreSQL refuses to run as root), with the data directory
given to that user. Each test gets a database of its own (:meth:`PgCluster.new_database`).
``fsync=off`` (faster), but commits stay synchronous: a crash of the server is simulated
with an immediate stop, which then loses nothing committed while the machine stays up.

The binaries are ``$BALANCEWATCH_PG_BINDIR``, else ``pg_config --bindir``, else the newest
``/usr/lib/postgresql/*/bin``, else ``initdb`` on the PATH. If none is there the tests
fail (never skip) with a message saying what to install.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

NOBODY = 65534
MISSING = (
    "PostgreSQL's server binaries (initdb, pg_ctl, postgres) were not found: install "
    "Debian's postgresql package (apt-get install postgresql; .ci/run does), or set "
    "BALANCEWATCH_PG_BINDIR to the directory that has them"
)
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
}
PASSWORD_USER = "pwuser"
"""A role that must give a password (scram), for the tests of authentication errors."""


def find_bindir() -> Path | None:
    candidates: list[Path] = []
    if os.environ.get("BALANCEWATCH_PG_BINDIR"):
        candidates.append(Path(os.environ["BALANCEWATCH_PG_BINDIR"]))
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True, timeout=10
        )
        candidates.append(Path(out.stdout.strip()))
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(
        versions, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True
    )
    if (initdb := shutil.which("initdb")) is not None:
        candidates.append(Path(initdb).resolve().parent)
    for candidate in candidates:
        if all((candidate / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    """A private PostgreSQL server; :meth:`start` it, then :meth:`url` for a database."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="balancewatch-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._names = itertools.count(1)
        self._as_nobody = os.geteuid() == 0
        if self._as_nobody:
            os.chown(self.root, NOBODY, NOBODY)
        atexit.register(self.destroy)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        command = [*(prefix if self._as_nobody else []), str(self.bindir / args[0]), *args[1:]]
        result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {result.stderr}{result.stdout}\n{log}")
        return result

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        hba = self.data / "pg_hba.conf"
        password_first = f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n"
        hba.write_text(password_first + hba.read_text())

    def start(self) -> None:
        """Start the server, on a new free port the first time, on the same one after."""
        for _attempt in range(5):
            port = self.port or free_port()
            options = [f"-c {key}={value}" for key, value in SERVER_SETTINGS.items()]
            options += [f"-p {port}", f"-k {self.root}"]
            started = self._run(
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                "-o", " ".join(options), "start", check=False,
            )  # fmt: skip
            if started.returncode == 0:
                self.port = port
                return
            if self.port:
                break  # our port was taken while we were down: a real failure
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr}\n{self.log.read_text()}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``immediate`` is a crash (no shutdown checkpoint)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def admin(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url(database), autocommit=True)

    def new_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)

    def destroy(self) -> None:
        if self.data.exists():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> PgCluster:
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(MISSING)
    cluster = PgCluster(bindir)
    cluster.init()
    cluster.start()
    with cluster.admin() as conn:
        conn.execute(f"CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD 'pw-{PASSWORD_USER}-0000'")
    return cluster
