"""The daemon's phase of one size, and what every phase shares (the simulator's process,
waiting, stopping).

The daemon is measured alone (only the simulator and the receiver run beside it), so its
scheduling lateness is its own; the references come after it (``bench.references``).
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import analyze, proc
from bench.receiver import Receiver
from bench.workload import crossings, daemon_config, load_accounts

PYTHON = sys.executable
VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Plan:
    interval: float
    warmup: float
    window: float
    ref_warmup: float
    ref_window: float
    profile_seconds: float
    startup_runs: int
    startup_warmup: int


def clean_env() -> dict[str, str]:
    """The environment without proxies (all traffic is loopback) or a daemon config path."""
    drop = {"BALANCEWATCH_CONFIG", "NOTIFY_SOCKET", "WATCHDOG_USEC", "STATE_DIRECTORY"}
    drop.add("BENCH_WHATIF")
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k not in drop}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def sleep_until(at: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Sleep until ``time.time() >= at``; fail early if ``process`` died meanwhile."""
    while (left := at - time.time()) > 0:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited early ({process.returncode})")
        time.sleep(min(left, 0.5))


def stop(process: subprocess.Popen[Any], grace: float = 20.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------- the simulator


class SimHost:
    """``python -m bench.simhost`` with a line-per-command channel on its stdin/stdout."""

    def __init__(self, count: int, accounts_file: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "bench.simhost",
                "--accounts",
                str(count),
                "--accounts-file",
                str(accounts_file),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.port = int(self._answer(timeout=120)["port"])
        self.accounts = load_accounts(accounts_file)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _answer(self, timeout: float = 10.0) -> dict[str, Any]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError("the simulator did not answer")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def command(self, **command: object) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.process.poll() is None and self.process.stdin is not None:
            try:
                self.process.stdin.write('{"op": "quit"}\n')
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        stop(self.process)


# ---------------------------------------------------------------- the daemon


def daemon_phase(
    sim: SimHost, plan: Plan, tmp: Path, env: dict[str, str], profile_to: Path | None
) -> dict[str, Any]:
    """Run ``balancewatch run`` on the simulator's accounts; its figures (see the report)."""
    receiver = Receiver().start()
    db, config, log_path = tmp / "state.db", tmp / "daemon.yaml", tmp / "daemon.log"
    timeout = min(10.0, plan.interval * 0.8)
    text = daemon_config(
        sim.accounts, db=db, receiver_url=receiver.url, interval=plan.interval, timeout=timeout
    )
    config.write_text(text, encoding="utf-8")
    command, validate_s, override = _validated(config, env)
    with log_path.open("wb") as log:
        launched = time.time()
        daemon = subprocess.Popen(
            [*command, "run", "-c", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    try:
        measured = _measure(daemon, sim, plan, profile_to)
    finally:
        stop(daemon)
        receiver.stop()
    log = analyze.read_daemon_log(log_path)
    window = measured.pop("window")
    figures = daemon_figures(log, receiver.arrivals(), window, plan, len(sim.accounts))
    first_poll = min((p.at for p in log.polls), default=None)
    figures["sqlite"]["rows"] = analyze.row_counts(db)
    figures["sqlite"]["file_mb"] = (
        sum(p.stat().st_size for p in tmp.glob("state.db*") if p.is_file()) / 1e6
    )
    figures.update(measured)
    figures.update(
        exit_code=daemon.returncode,
        what_if=env.get("BENCH_WHATIF"),
        validate_s=validate_s,
        override=override,
        first_poll_after_s=None if first_poll is None else first_poll - launched,
    )
    return figures


def _measure(
    daemon: subprocess.Popen[bytes], sim: SimHost, plan: Plan, profile_to: Path | None
) -> dict[str, Any]:
    """Warm up, sample, script the crossings, sample again, then profile: what /proc and
    the simulator tell about the window."""
    sleep_until(time.time() + plan.warmup, daemon)
    start, sim_start = proc.sample(daemon.pid), proc.sample(sim.pid)
    busy_start, threads_start = proc.machine_busy(), proc.thread_cpu(daemon.pid)
    requests_start = sim.command(op="stats")["requests"]
    planned = crossings(sim.accounts, plan.window, plan.interval)
    for crossing in planned:
        sleep_until(start.at + crossing.at, daemon)
        sim.command(
            op="set",
            api_key=crossing.account.api_key,
            currency=crossing.account.watched_currency,
            available=str(crossing.available),
        )
    sleep_until(start.at + plan.window, daemon)
    end, sim_end = proc.sample(daemon.pid), proc.sample(sim.pid)
    busy, threads_end = proc.machine_busy() - busy_start, proc.thread_cpu(daemon.pid)
    names = _thread_names(daemon.pid)
    requests = sim.command(op="stats")["requests"] - requests_start
    memory = proc.memory_mb(daemon.pid)
    syncs = _count_syncs(daemon.pid, min(plan.interval, plan.window))
    profile = _profile(daemon.pid, plan.profile_seconds, profile_to) if profile_to else None
    window, sim_window = proc.Window(start, end), proc.Window(sim_start, sim_end)
    by_thread = {tid: cpu - threads_start.get(tid, 0.0) for tid, cpu in threads_end.items()}
    return {
        "window": window,
        "thread_cores": _thread_shares(daemon.pid, by_thread, window.seconds, names),
        "memory": memory,
        "peak_rss_mb_incl_profile_time": proc.memory_mb(daemon.pid)["peak_rss_mb"],
        "profile": profile,
        "crossings": {
            "scripted_changes": len(planned),
            "accounts": sorted({c.account.name for c in planned}),
        },
        "other_cores_busy": (busy - window.cpu - sim_window.cpu) / window.seconds,
        "fsyncs_per_s": syncs,
        "simulator": {
            "requests": requests,
            "cpu_ms_per_request": 1000 * sim_window.cpu / requests if requests else None,
            "core_share": sim_window.cpu / sim_window.seconds,
        },
    }


def _thread_names(pid: int) -> dict[int, str]:
    """Python's names of a process's threads (``py-spy dump``; /proc only knows ids)."""
    spy = VENV_BIN / "py-spy"
    if not spy.exists():
        return {}
    done = subprocess.run(
        [str(spy), "dump", "--pid", str(pid)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    found = re.findall(r'^Thread (\d+) \([^)]*\): "(.*)"$', done.stdout, re.MULTILINE)
    return {int(tid): name for tid, name in found}


def _thread_shares(
    pid: int, by_thread: dict[int, float], seconds: float, names: dict[int, str]
) -> dict[str, float]:
    """Cores each busy thread used in the window, by name where known."""
    shares = {}
    for tid, cpu in sorted(by_thread.items(), key=lambda item: -item[1]):
        if cpu > 0:
            name = names.get(tid, "main thread" if tid == pid else f"thread {tid}")
            shares[name] = cpu / seconds
    return shares


LIMIT_MESSAGE = "expands to more than"


def _validated(config: Path, env: dict[str, str]) -> tuple[list[str], float, str | None]:
    """``balancewatch validate`` on the config, timed: the command to run the daemon with,
    the seconds validation took, and the override needed (see ``bench.unlimited``)."""
    command = [str(VENV_BIN / "balancewatch")]
    done, seconds = _validate(command, config, env)
    override = None
    what_if = env.get("BENCH_WHATIF")
    if what_if:
        override = f"what-if run: the daemon ran with bench.whatif {what_if!r} patched in"
        command = [PYTHON, "-m", "bench.unlimited"]
        done, seconds = _validate(command, config, env)
    elif done.returncode != 0 and LIMIT_MESSAGE in done.stdout + done.stderr:
        override = (
            f"`balancewatch validate` refuses the config ({done.stderr.strip()[:100]}); "
            "the daemon ran through bench.unlimited (yamlload.MAX_VALUES raised, nothing else)"
        )
        print(f"note: {override}", flush=True)
        command = [PYTHON, "-m", "bench.unlimited"]
        done, seconds = _validate(command, config, env)
    if done.returncode != 0:
        raise RuntimeError(f"the daemon's config does not validate: {done.stderr[-500:]}")
    return command, seconds, override


def _validate(
    command: list[str], config: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "validate", "-c", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    return done, time.perf_counter() - started


def daemon_figures(
    log: analyze.DaemonLog,
    arrivals: list[Any],
    window: proc.Window,
    plan: Plan,
    count: int,
) -> dict[str, Any]:
    t0, t1 = window.start.at, window.end.at
    polls = [p for p in log.polls if t0 <= p.at < t1]
    n = len(polls)
    latencies, missing = analyze.notification_latency(log.polls, arrivals, t0, t1)
    written = window.written
    return {
        "window_s": window.seconds,
        "cpu_s": window.cpu,
        "polls": n,
        "polls_expected": count * window.seconds / (plan.interval * 1.05),
        "failed_polls": sum(not p.ok for p in polls),
        "error_kinds": dict(log.errors),
        "cpu_ms_per_poll": 1000 * window.cpu / n if n else None,
        "core_share": window.cpu / window.seconds,
        "late_ms": analyze.summary([p.late_ms for p in polls if p.late_ms is not None]),
        "poll_ms": analyze.summary([p.ms for p in polls]),
        "due_to_done_ms": analyze.summary(
            [p.late_ms + p.ms for p in polls if p.late_ms is not None]
        ),
        "notify_latency_ms": analyze.summary([1000 * s for s in latencies]),
        "notifying_polls_without_arrival": missing,
        "messages_received": len(arrivals),
        "sqlite": {
            "poll_commits_per_s": n / window.seconds,
            "delivery_marks_per_s": analyze.in_window(log.delivered, t0, t1) / window.seconds,
            "disk_write_kb_per_poll": written / n / 1000 if written is not None and n else None,
        },
        "log_events": dict(log.events.most_common()),
    }


def _count_syncs(pid: int, seconds: float) -> float | None:
    """fsync + fdatasync calls per second of the daemon (SQLite's commits reach the disk
    through them), counted by ``strace -c`` over one interval after the window; with
    ``--seccomp-bpf`` only those calls stop the process. None without strace."""
    strace = shutil.which("strace")
    if strace is None:
        return None
    argv = ["timeout", "-s", "INT", str(int(seconds)), strace, "-f", "--seccomp-bpf", "-c"]
    argv += ["-e", "trace=fsync,fdatasync", "-p", str(pid)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    calls = 0
    for line in done.stderr.splitlines():
        fields = line.split()
        if fields and fields[-1] in ("fsync", "fdatasync") and fields[3].isdigit():
            calls += int(fields[3])
    return calls / seconds


def _profile(pid: int, seconds: float, raw: Path) -> dict[str, Any] | None:
    """py-spy on the running daemon, after the measured window (it pauses the daemon for
    each sample, which would skew the window; the stacks are whole so)."""
    spy = VENV_BIN / "py-spy"
    if seconds <= 0 or not spy.exists():
        print(f"note: no profile ({spy} missing or --profile-seconds 0)", flush=True)
        return None
    argv = [str(spy), "record", "--pid", str(pid), "--duration", str(int(seconds))]
    argv += ["--rate", "100", "--format", "raw", "--threads"]
    argv += ["--output", str(raw)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0 or not raw.exists():
        print(f"note: py-spy failed: {done.stderr.strip()[-300:]}", flush=True)
        return None
    return {"file": raw.name, "seconds": seconds, **analyze.profile_summary(raw)}
