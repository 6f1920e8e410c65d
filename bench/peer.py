"""The peer: Prometheus ``blackbox_exporter`` probing the same simulated endpoints.

blackbox_exporter's ``http`` prober takes its method, headers and body from a *module*,
fixed in its config file, so each account gets a module named after it (its credential
headers, TheDex's signed body) with a body check: ``fail_if_body_not_matches_regexp``
looks for the balance in the answer. ``bench.load --client blackbox`` then asks
``/probe?module=<account>&target=<url>`` at the daemon's schedule. blackbox opens a new
connection per probe: that is how it works (it measures connect time), not a handicap
made up here.

The binary is Debian's ``prometheus-blackbox-exporter``; :func:`ensure_tools` installs it
(and hyperfine and strace, for the start-up and fsync figures) with apt-get when missing,
and says why it cannot, otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from bench.workload import Account, request_spec, thedex_static_body

PACKAGE = "prometheus-blackbox-exporter"
BODY_CHECKS = {
    "dhmad": r'"available":\s*[0-9.]+',
    "oneclickdz": r'"success":\s*true',
    "thedex": r'"availableBalance":\s*"[0-9.]+"',
    "sunor": r'"available":\s*[0-9.]+',
}


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""No proxy from the environment: everything here is on loopback."""


def find_binary() -> str | None:
    return shutil.which(PACKAGE) or shutil.which("blackbox_exporter")


def apt_install(packages: list[str]) -> str:
    """Install Debian packages with apt-get; "" when done, else why not (never raises)."""
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        return "apt-get is not available here (or not root)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", *packages]):
        try:
            done = subprocess.run(step, env=env, capture_output=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            return f"{' '.join(step)} timed out"
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
            return f"apt-get failed: {' '.join(tail)}"
    return ""


WITHOUT = {
    PACKAGE: "the peer is skipped",
    "hyperfine": "start-up is timed with subprocess.run instead",
    "strace": "the daemon's fsyncs are not counted",
}
"""What the bench does without each Debian package it installs when it can."""


def _found(package: str) -> bool:
    return (find_binary() if package == PACKAGE else shutil.which(package)) is not None


def ensure_tools() -> dict[str, str]:
    """Install blackbox_exporter, hyperfine and strace when missing; a note per tool that
    is still missing afterwards."""
    missing = [package for package in WITHOUT if not _found(package)]
    if not missing:
        return {}
    problem = apt_install(missing) or "no binary after install"
    return {
        package: f"{package} not installed ({problem}): {WITHOUT[package]}"
        for package in missing
        if not _found(package)
    }


def version(binary: str) -> str:
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def module(account: Account) -> dict[str, object]:
    spec = request_spec(account)
    http: dict[str, object] = {
        "method": spec.method,
        "headers": spec.headers,
        "valid_status_codes": [200],
        "fail_if_body_not_matches_regexp": [BODY_CHECKS[account.provider]],
        "preferred_ip_protocol": "ip4",
        "ip_protocol_fallback": False,
    }
    if spec.thedex_secret is not None:
        body, headers = thedex_static_body(spec)
        http["headers"], http["body"] = headers, body.decode()
    return {"prober": "http", "timeout": "10s", "http": http}


def write_config(accounts: list[Account], path: Path) -> None:
    """JSON is YAML: every header and body is quoted exactly, whatever it holds."""
    config = {"modules": {account.name: module(account) for account in accounts}}
    path.write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")


def start(binary: str, config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """Start blackbox_exporter on 127.0.0.1:port and wait until it answers (30 s at most)."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"blackbox_exporter exited ({process.returncode}); see {log}")
        try:
            with _DIRECT.open(f"http://127.0.0.1:{port}/-/healthy", timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    process.wait()
    raise RuntimeError("blackbox_exporter did not answer within 30 s")
