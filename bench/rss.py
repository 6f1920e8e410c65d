"""Where the daemon's resident memory comes from before its first poll, step by step.

``python -m bench.rss --accounts N --out F.json`` runs in a fresh process what
``balancewatch run`` does before polling, reading ``VmRSS`` and ``VmHWM`` (the peak so far)
after each step: the imports; ``load_config`` on the bench's N-account config (its peak is
the models with the plain data they are validated from); one ``AccountPlan`` per account
(``plan_config``, as ``balancewatch run`` does: the account models are then dropped); one
APScheduler job per account (a ``SlotTrigger`` with jitter, as ``Daemon._add_job``); and,
for a daemon with an ``http:`` section only (the bench's has none), the Prometheus children
a first poll of each account creates (``Metrics.observe_snapshot``, the per-account poll
counter). The memory a fragmented heap keeps after a peak is not given
back to the system: that is why the peak matters for RSS, not only what stays referenced.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.proc import memory_mb


def _step(steps: list[dict[str, object]], name: str, started: float) -> float:
    gc.collect()
    mem = memory_mb("self")
    steps.append({"step": name, "seconds": time.perf_counter() - started, **mem})
    return time.perf_counter()


def measure(count: int) -> list[dict[str, object]]:
    steps: list[dict[str, object]] = []
    started = time.perf_counter()
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from balancewatch.config.load import load_config
    from balancewatch.daemon import service  # noqa: F401  (what `run` imports)
    from balancewatch.daemon.schedule import SlotTrigger, phase
    from balancewatch.model import Snapshot
    from balancewatch.poll.plan import plan_config
    from balancewatch.sim.server import generated_accounts
    from bench.memory import _provider, sample_body
    from bench.workload import Account, daemon_config

    started = _step(steps, "imports (balancewatch.daemon.service)", started)
    with tempfile.TemporaryDirectory() as tmp:
        accounts = [
            Account(i, f"acct-{p}-{i:05d}", p, key, secret, f"http://127.0.0.1:1/{p}")
            for i, (p, key, secret, _b) in enumerate(generated_accounts(count))
        ]
        path = Path(tmp) / "config.yaml"
        text = daemon_config(
            accounts,
            db=Path(tmp) / "state.db",
            receiver_url="json://127.0.0.1:9/hook",
            interval=60,
            timeout=10,
        )
        path.write_text(text, encoding="utf-8")
        del accounts, text
        started = time.perf_counter()
        config = load_config(path)
    started = _step(steps, f"load_config ({count:,} accounts; imports apprise)", started)
    config, planned, _secrets = plan_config(config)
    plans = list(planned.values())
    del planned, _secrets
    started = _step(steps, "one AccountPlan per account, the Account models dropped", started)
    scheduler = AsyncIOScheduler(timezone=UTC)
    first = datetime.now(UTC) + timedelta(minutes=5)
    for plan in plans:
        trigger = SlotTrigger(interval=60, jitter=6, offset=phase(plan.name), first=first)
        scheduler.add_job(
            print, trigger, id=plan.name, next_run_time=first, max_instances=1, coalesce=True
        )
    started = _step(steps, "one APScheduler job per account (not started)", started)
    from balancewatch.daemon.metrics import Metrics  # imported by the daemon only with `http:`

    metrics = Metrics()
    parsers = {p.provider_name: _provider(p.provider_name) for p in plans}
    for plan in plans:
        balances = parsers[plan.provider_name].parse(sample_body(plan.provider_name))
        metrics.observe_snapshot(Snapshot(plan.name, first, balances))
        metrics.polls.labels(plan.name).inc()
    _step(steps, "only with `http:`: Prometheus children of a first poll of each", started)
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rss", description=__doc__)
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    steps = measure(args.accounts)
    args.out.write_text(json.dumps({"accounts": args.accounts, "steps": steps}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
