"""The references of one size, together: the raw client, aiohttp, blackbox_exporter and its
probe driver, each in its own process (``bench.load``, ``bench.peer``).

They run at the same time, for their own window: each one's CPU is read from its own
``/proc/PID/stat``, which contention among them changes little (the machine's load
meanwhile is recorded under ``_machine``).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import analyze, peer, proc
from bench.phases import PYTHON, Plan, SimHost, free_port, sleep_until, stop


def reference_phase(
    sim: SimHost, plan: Plan, tmp: Path, env: dict[str, str], blackbox: str | None
) -> dict[str, Any]:
    accounts_file = tmp / "accounts.json"
    duration = plan.ref_warmup + plan.ref_window + 5  # the clients outlive the window
    exporter, port = None, 0
    if blackbox:
        peer.write_config(sim.accounts, tmp / "blackbox.yml")
        port = free_port()
        exporter = peer.start(blackbox, tmp / "blackbox.yml", port, tmp / "blackbox.log")
    clients: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for client in ("raw", "aiohttp", *(("blackbox",) if exporter else ())):
            argv = [PYTHON, "-m", "bench.load", "--client", client]
            argv += ["--accounts-file", str(accounts_file), "--interval", str(plan.interval)]
            argv += ["--duration", str(duration), "--out", str(tmp / f"{client}.json")]
            if client == "blackbox":
                argv += ["--blackbox", f"127.0.0.1:{port}"]
            clients[client] = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL)
        measured = {name: p.pid for name, p in clients.items() if name != "blackbox"}
        if exporter is not None:
            measured["blackbox_exporter"] = exporter.pid
            measured["blackbox driver"] = clients["blackbox"].pid
        sleep_until(time.time() + plan.ref_warmup)
        starts = {name: proc.sample(pid) for name, pid in measured.items()}
        busy_start = proc.machine_busy()
        sleep_until(starts["raw"].at + plan.ref_window)
        ends = {name: proc.sample(pid) for name, pid in measured.items()}
        busy = proc.machine_busy() - busy_start
        memory = {name: proc.memory_mb(pid) for name, pid in measured.items()}
        for process in clients.values():
            process.wait(timeout=duration + 60)
    finally:
        for process in clients.values():
            stop(process)
        if exporter is not None:
            stop(exporter)
    results: dict[str, Any] = {}
    for name in measured:
        source = "blackbox" if name.startswith("blackbox") else name
        outcome = json.loads((tmp / f"{source}.json").read_text())
        results[name] = _reference_figures(
            outcome, proc.Window(starts[name], ends[name]), memory[name]
        )
    ours = sum(ends[n].cpu - starts[n].cpu for n in measured)
    seconds = ends["raw"].at - starts["raw"].at
    results["_machine"] = {"busy_cores": busy / seconds, "measured_cores": ours / seconds}
    return results


def _reference_figures(
    outcome: dict[str, Any], window: proc.Window, memory: dict[str, float]
) -> dict[str, Any]:
    t0, t1 = window.start.at, window.end.at
    done = [(t, ok) for t, ok in outcome["done"] if t0 <= t < t1]
    n = len(done)
    return {
        "window_s": window.seconds,
        "cpu_s": window.cpu,
        "requests": n,
        "failed": sum(not ok for _t, ok in done),
        "errors": outcome["errors"],
        "skipped_busy": outcome["skipped"],
        "cpu_ms_per_request": 1000 * window.cpu / n if n else None,
        "core_share": window.cpu / window.seconds,
        "late_ms": analyze.summary([1000 * s for t, s in outcome["late"] if t0 <= t < t1]),
        **memory,
    }
