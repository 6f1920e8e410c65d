"""Run the benchmark: ``.venv/bin/python -m bench.run`` (from the repository root).

Full run (issue 7's figures; about 27 minutes on 2 cores; writes ``bench/results/*.json`` and
``docs/benchmarks.md``)::

    .venv/bin/python -m bench.run --sizes 100,1000,10000 --minutes 3

CI (N=50, 5-second interval, about a minute; writes under ``bench/results/small/``, never
asserts a timing, fails only when something did not run)::

    python -m bench.run --small

A change to balancewatch, measured before it is made (``bench/whatif.py``; the daemon phase
only, profiled at every size; writes ``daemon-<name>-n<N>.json``)::

    .venv/bin/python -m bench.run --sizes 10000 --what-if httpx-pool

For each size N: the simulator (``bench.simhost``) serves N accounts; the daemon
(``balancewatch run``) polls them at ``--interval`` with 10% jitter for a warm-up interval
plus ``--minutes``, while a few accounts cross their thresholds; then the raw asyncio
client, aiohttp and blackbox_exporter make the same requests at the same schedule for a
half-interval warm-up plus ``--minutes``. The largest size is profiled with py-spy after its
measured window. Then CLI start-up and import time. Needs the ``bench`` extra
(``pip install -e '.[bench]'``); blackbox_exporter and hyperfine are installed with apt-get
when missing and possible, else skipped with a note.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import memory, peer, phases, references, report, startup

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "balancewatch",
    "httpx",
    "httpcore",
    "anyio",
    "apscheduler",
    "apprise",
    "structlog",
    "pydantic",
    "prometheus-client",
    "aiohttp",
    "py-spy",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", default="100,1000,10000", help="account counts, comma-separated")
    parser.add_argument("--minutes", type=float, default=3.0, help="measured window per phase")
    parser.add_argument("--interval", type=float, default=60.0, help="poll interval, seconds")
    parser.add_argument(
        "--profile-seconds", type=float, default=60.0, help="py-spy on the largest size (0: none)"
    )
    parser.add_argument("--out", type=Path, help="results directory (default bench/results)")
    parser.add_argument("--docs", type=Path, help="the report (default docs/benchmarks.md)")
    parser.add_argument("--small", action="store_true", help="N=50, about a minute: for CI")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the report from --out's JSON"
    )
    parser.add_argument(
        "--daemon-only",
        action="store_true",
        help="the daemon phase alone, profiled at every size (writes daemon-as-is-nN.json)",
    )
    parser.add_argument(
        "--what-if",
        metavar="NAME[,NAME]",
        help="--daemon-only with a bench.whatif experiment patched in "
        "(writes daemon-NAME-nN.json, not the report)",
    )
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> tuple[list[int], phases.Plan, Path, Path]:
    if args.small:
        plan = phases.Plan(
            interval=5.0,
            warmup=5.0,
            window=12.0,
            ref_warmup=3.0,
            ref_window=8.0,
            profile_seconds=3.0,
            startup_runs=3,
            startup_warmup=1,
        )
        out = args.out or ROOT / "bench" / "results" / "small"
        return [50], plan, out, args.docs or out / "benchmarks.md"
    window = args.minutes * 60
    plan = phases.Plan(
        interval=args.interval,
        # Steady from 2.75 intervals: first runs are spread over up to one interval (50 s at
        # 10,000 accounts), and an account's second run is its first slot 3/4 of an interval
        # or more after its first. A shorter warm-up counts some accounts' late second runs
        # out of the window (24,510 polls counted of 30,000 due at one interval's warm-up).
        warmup=2.75 * args.interval,
        window=window,
        ref_warmup=args.interval / 2,
        ref_window=window,
        profile_seconds=args.profile_seconds,
        startup_runs=20,
        startup_warmup=3,
    )
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    out = args.out or ROOT / "bench" / "results"
    return sizes, plan, out, args.docs or ROOT / "docs" / "benchmarks.md"


def code_under_test() -> dict[str, Any]:
    """The commit and whether ``balancewatch/`` differs from it (the tree may be shared)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=30
        )
        return done.stdout.strip()

    digest = hashlib.sha256()
    for path in sorted((ROOT / "balancewatch").rglob("*.py")):
        digest.update(path.read_bytes())
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "balancewatch_modified": bool(git("status", "--porcelain", "--", "balancewatch")),
        "balancewatch_sha256": digest.hexdigest()[:12],
    }


def machine(blackbox: str | None, notes: dict[str, str]) -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    os_name = next(
        (
            line.split("=", 1)[1].strip('"')
            for line in Path("/etc/os-release").read_text().splitlines()
            if line.startswith("PRETTY_NAME=")
        ),
        platform.system(),
    )
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["sqlite"] = sqlite3.sqlite_version
    if blackbox:
        versions["blackbox_exporter"] = peer.version(blackbox)
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
        "kernel": platform.release(),
        "os": os_name,
        "python": sys.version.split()[0],
        "versions": versions,
        "notes": notes,
    }


def command_line(argv: list[str] | None) -> str:
    return " ".join(["python -m bench.run", *(sys.argv[1:] if argv is None else argv)])


def run_size(
    count: int,
    plan: phases.Plan,
    out: Path,
    env: dict[str, str],
    blackbox: str | None,
    profile: bool,
) -> dict[str, Any]:
    print(f"== N={count}: simulator", flush=True)
    code = code_under_test()
    with tempfile.TemporaryDirectory(prefix=f"bench-{count}-", dir="/var/tmp") as name:
        tmp = Path(name)
        sim = phases.SimHost(count, tmp / "accounts.json", env)
        try:
            total = plan.warmup + plan.window + (plan.profile_seconds if profile else 0)
            print(f"== N={count}: daemon, {total:.0f} s", flush=True)
            profile_to = out / f"profile-n{count}.txt" if profile else None
            daemon = phases.daemon_phase(sim, plan, tmp, env, profile_to)
            print(
                f"== N={count}: references, {plan.ref_warmup + plan.ref_window:.0f} s", flush=True
            )
            refs = references.reference_phase(sim, plan, tmp, env, blackbox)
        finally:
            sim.close()
    return {
        "size": count,
        "code": code,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "plan": plan.__dict__,
        "daemon": daemon,
        "references": refs,
    }


def problems(result: dict[str, Any], blackbox: str | None) -> list[str]:
    """What did not run (the only reasons to fail; timings are never judged here)."""
    found = []
    size = result["size"]
    if not result["daemon"]["polls"]:
        found.append(f"N={size}: the daemon recorded no poll in its window")
    for name in ("raw", "aiohttp", *(("blackbox_exporter",) if blackbox else ())):
        if not result["references"].get(name, {}).get("requests"):
            found.append(f"N={size}: {name} completed no request in its window")
    return found


def daemon_only(name: str | None, sizes: list[int], plan: phases.Plan, out: Path) -> int:
    """The daemon phase alone, profiled, for each size; ``name``: a bench.whatif experiment
    patched in. Writes ``daemon-<name or as-is>-n<N>.json``, not the report."""
    tag = name or "as-is"
    env = phases.clean_env()
    if name:
        env["BENCH_WHATIF"] = name
    for count in sizes:
        code = code_under_test()
        with tempfile.TemporaryDirectory(prefix=f"bench-{count}-", dir="/var/tmp") as tmp_name:
            tmp = Path(tmp_name)
            sim = phases.SimHost(count, tmp / "accounts.json", env)
            try:
                profile_to = out / f"daemon-{tag}-profile-n{count}.txt"
                daemon = phases.daemon_phase(sim, plan, tmp, env, profile_to)
            finally:
                sim.close()
        result = {
            "size": count,
            "what_if": name,
            "code": code,
            "plan": plan.__dict__,
            "daemon": daemon,
        }
        (out / f"daemon-{tag}-n{count}.json").write_text(json.dumps(result, indent=1) + "\n")
        print(
            f"daemon only ({tag}), N={count}: {report.num(daemon['cpu_ms_per_poll'], 3)} ms/poll, "
            f"{100 * daemon['core_share']:.1f}% of a core, {daemon['polls']} polls, peak RSS "
            f"{daemon['memory']['peak_rss_mb']:.0f} MB, late p99 "
            f"{report.num(daemon['late_ms']['p99'], 0)} ms",
            flush=True,
        )
    return 0


HISTORY_INTERVAL = 60.0
"""The history projection is weighed at a one-minute interval whatever the run's: at
``--small``'s 5 s an hour's window is 720 polls per account, and filling it takes minutes."""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes, plan, out, docs = make_plan(args)
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        projection = memory.projection(sorted({*sizes, 100, 1000, 10000}), HISTORY_INTERVAL)
        (out / "history.json").write_text(json.dumps(projection, indent=1) + "\n")
        report.write(out, docs)
        return 0
    if args.what_if or args.daemon_only:
        return daemon_only(args.what_if, sizes, plan, out)
    env = phases.clean_env()
    notes = peer.ensure_tools()
    for note in notes.values():
        print(f"note: {note}", flush=True)
    blackbox = peer.find_binary()
    started = time.monotonic()
    failures: list[str] = []
    (out / "machine.json").write_text(json.dumps(machine(blackbox, notes), indent=1) + "\n")
    for count in sizes:
        result = run_size(count, plan, out, env, blackbox, profile=count == max(sizes))
        result["command"] = command_line(argv)
        (out / f"n{count}.json").write_text(json.dumps(result, indent=1) + "\n")
        failures += problems(result, blackbox)
        print(report.one_line(result), flush=True)
    projection = memory.projection(sorted({*sizes, 100, 1000, 10000}), HISTORY_INTERVAL)
    (out / "history.json").write_text(json.dumps(projection, indent=1) + "\n")
    print(f"== memory before the first poll, N={max(sizes)}", flush=True)
    rss = [phases.PYTHON, "-m", "bench.rss", "--accounts", str(max(sizes))]
    subprocess.run([*rss, "--out", str(out / "rss.json")], env=env, check=True, timeout=600)
    print("== start-up", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as name:
        timed = startup.startup_phase(plan, Path(name), env, out)
    (out / "startup.json").write_text(json.dumps(timed, indent=1) + "\n")
    report.write(out, docs)
    print(f"== done in {time.monotonic() - started:.0f} s: {docs}", flush=True)
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
