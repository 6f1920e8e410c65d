"""CLI start-up: ``--help``, ``validate`` and ``check`` on a small config, and where the
import time goes.

Wall time per command comes from hyperfine (``--shell=none``, warm-up runs first) when it
is installed (Debian: ``hyperfine``), else from repeated ``subprocess.run``, median of at
least 10. ``check`` polls four simulated accounts on loopback, so the simulator runs
meanwhile. The import breakdown is ``python -X importtime`` for ``import balancewatch.commands.cli``
and for the whole of ``python -m balancewatch validate``, run five times (the run with the
median total is kept), summed per top-level package.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.phases import VENV_BIN, Plan, SimHost
from bench.workload import Account, daemon_config

IMPORTTIME_RUNS = 5


def commands(venv_bin: Path, config: Path, bare: Path) -> dict[str, list[str]]:
    tool = str(venv_bin / "balancewatch")
    return {
        "--help": [tool, "--help"],
        "validate": [tool, "validate", "-c", str(config)],
        "validate (no notifiers)": [tool, "validate", "-c", str(bare)],
        "check": [tool, "check", "-c", str(config)],
    }


def time_commands(
    cmds: dict[str, list[str]], runs: int, warmup: int, out: Path, env: dict[str, str]
) -> dict[str, Any]:
    hyperfine = shutil.which("hyperfine")
    if hyperfine:
        return _hyperfine(hyperfine, cmds, runs, warmup, out, env)
    return _repeat(cmds, max(runs, 10), warmup, env)


def _hyperfine(
    binary: str,
    cmds: dict[str, list[str]],
    runs: int,
    warmup: int,
    out: Path,
    env: dict[str, str],
) -> dict[str, Any]:
    argv = [binary, "--shell=none", "--style=none", f"--warmup={warmup}", f"--runs={runs}"]
    argv += ["--export-json", str(out)]
    for name, cmd in cmds.items():
        argv += [f"--command-name={name}", " ".join(cmd)]
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL, timeout=600)
    results = json.loads(out.read_text())["results"]
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    timed = {
        r["command"]: {
            "median_ms": r["median"] * 1000,
            "mean_ms": r["mean"] * 1000,
            "stddev_ms": (r.get("stddev") or 0) * 1000,
            "min_ms": r["min"] * 1000,
            "max_ms": r["max"] * 1000,
            "runs": len(r["times"]),
        }
        for r in results
    }
    return {"tool": version.stdout.strip(), "commands": timed}


def _repeat(
    cmds: dict[str, list[str]], runs: int, warmup: int, env: dict[str, str]
) -> dict[str, Any]:
    timed: dict[str, Any] = {}
    for name, cmd in cmds.items():
        samples = []
        for attempt in range(warmup + runs):
            started = time.perf_counter()
            subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=60)
            if attempt >= warmup:
                samples.append((time.perf_counter() - started) * 1000)
        timed[name] = {
            "median_ms": statistics.median(samples),
            "mean_ms": statistics.fmean(samples),
            "stddev_ms": statistics.stdev(samples),
            "min_ms": min(samples),
            "max_ms": max(samples),
            "runs": len(samples),
        }
    return {"tool": "subprocess.run, median", "commands": timed}


# ---------------------------------------------------------------- -X importtime


def parse_importtime(stderr: str) -> list[tuple[int, int, int, str]]:
    """``(self_us, cumulative_us, depth, module)`` per line of ``-X importtime``."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line[len("import time:") :].split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((int(own), int(cumulative), depth, name.strip()))
    return rows


def importtime(
    argv: list[str], env: dict[str, str], runs: int = IMPORTTIME_RUNS, top: int = 12
) -> dict[str, Any]:
    """The run with the median total of ``runs``, summed per top-level package."""
    measured = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        rows = parse_importtime(done.stderr)
        measured.append((sum(r[0] for r in rows), rows))
    measured.sort(key=lambda run: run[0])
    total, rows = measured[len(measured) // 2]
    per_package: Counter[str] = Counter()
    for own, _cumulative, _depth, name in rows:
        per_package[name.split(".")[0]] += own
    outermost = sorted((r for r in rows if r[2] == 0), key=lambda r: r[1], reverse=True)
    return {
        "argv": ["python", "-X", "importtime", *argv],
        "runs": runs,
        "total_ms": total / 1000,
        "modules": len(rows),
        "by_package_ms": [[name, us / 1000] for name, us in per_package.most_common(top)],
        "outermost_ms": [[name, cumulative / 1000] for _o, cumulative, _d, name in outermost[:top]],
        "top_modules_self_ms": [
            [name, own / 1000] for own, _c, _d, name in sorted(rows, reverse=True)[:top]
        ],
    }


# ---------------------------------------------------------------- the phase


SMALL_CONFIG_NOTIFIER = '  bench: "json://127.0.0.1:9/hook"\n'


def startup_phase(plan: Plan, tmp: Path, env: dict[str, str], out: Path) -> dict[str, Any]:
    """Start-up figures; the small config is kept as ``startup-config.yaml`` in ``out``."""
    sim = SimHost(4, tmp / "accounts.json", env)
    try:
        accounts: list[Account] = sim.accounts
        text = daemon_config(
            accounts,
            db=tmp / "startup.db",
            receiver_url="json://127.0.0.1:9/hook",
            interval=60,
            timeout=10,
        )
        config, bare = tmp / "small.yaml", tmp / "small-no-notifiers.yaml"
        config.write_text(text, encoding="utf-8")
        bare.write_text(text.replace("notifiers:\n" + SMALL_CONFIG_NOTIFIER, ""), encoding="utf-8")
        cmds = commands(VENV_BIN, config, bare)
        timed = time_commands(
            cmds, plan.startup_runs, plan.startup_warmup, tmp / "hyperfine.json", env
        )
        runs = 3 if plan.startup_runs < 10 else IMPORTTIME_RUNS
        timed["importtime"] = {
            "import balancewatch.commands.cli": importtime(
                ["-c", "import balancewatch.commands.cli"], env, runs=runs
            ),
            "balancewatch validate": importtime(
                ["-m", "balancewatch", "validate", "-c", str(config)], env, runs=runs
            ),
        }
        timed["config"] = text
    finally:
        sim.close()
    (out / "startup-config.yaml").write_text(timed.pop("config"), encoding="utf-8")
    return timed
