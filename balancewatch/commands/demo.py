"""``balancewatch demo``: the whole loop in about a minute, with no config, keys or network.

Simulated providers are served on loopback (``sim.py``), the real daemon watches them with
a demo config (2-second intervals) and a console notifier, serves the status page on a
free loopback port (its address is printed), and a script moves the money:

- ``shop-topups`` (OneClickDz) drains: a warning, then an escalation to critical;
- ``escrow-tn`` (Dhmad) sees funds move into escrow (a held_increase event);
- ``music-credits`` (Sunor) goes unreachable for a while and comes back;
- a top-up of ``shop-topups`` resolves its alert.

It runs for ``--duration`` seconds (75 by default; the banner says so) and ends by itself
with "demo finished", exit 0. Ctrl-C stops it sooner: the daemon finishes its in-flight
polls, the demo says "demo stopped early" and exits 130 (128 + SIGINT, the shell's
convention for a command interrupted by Ctrl-C; SIGTERM: 143), with no traceback. Either
way its state lives in a temporary directory that is removed before it exits.

At its start it says how to run the same simulator against a config of one's own
(``python -m balancewatch.sim``, :mod:`balancewatch.sim.cli`).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from balancewatch.sim.server import SimServer

if TYPE_CHECKING:
    from balancewatch.daemon.service import Daemon

INTERVAL = 2

DEMO_CONFIG = """\
state:
  path: {state}
defaults:
  interval: {interval}s
  timeout: {timeout_ms}ms
  jitter: 0s
  failures_before_alert: 2
  repeat: 1h
notifiers:
  console: "bwconsole://"
http:
  listen: 127.0.0.1:0
accounts:
  - name: shop-topups
    provider: oneclickdz
    api_key: demo-oneclick-key
    tags: [shop]
    base_url: {oneclickdz}
    rules:
      - threshold: {{below: {{warning: 5000, critical: 3000}}, clear_margin: 250}}
      - runway: {{under: {{warning: 2m}}, window: 30s}}
  - name: escrow-tn
    provider: dhmad
    api_key: demo-dhmad-key
    base_url: {dhmad}
    rules:
      - threshold: {{below: {{critical: 200}}}}
      - held_increase: {{kind: escrow, by: {{amount: 500}}}}
  - name: music-credits
    provider: sunor
    api_key: demo-sunor-key
    base_url: {sunor}
    rules:
      - threshold: {{below: {{warning: 500}}}}
  - name: crypto-wallet
    provider: thedex
    api_key: demo-thedex-key
    secret: demo-thedex-secret
    base_url: {thedex}
    rules:
      - threshold: {{currency: USDT_TRON, below: {{critical: 100}}}}
"""


@dataclass(frozen=True)
class Step:
    at: float
    says: str
    act: Callable[[SimServer], None]


def script() -> list[Step]:
    return [
        Step(0, "shop-topups starts at 6,000 DZD and spends 200 DZD every poll", _drain),
        Step(16, "escrow-tn: 800 TND moves into escrow", _escrow),
        Step(22, "music-credits: the provider starts answering HTTP 500", _outage),
        Step(34, "music-credits: the provider is back", _recover),
        Step(48, "shop-topups: topped up to 9,000 DZD", _top_up),
    ]


def _drain(sim: SimServer) -> None:
    sim.set_drain("demo-oneclick-key", Decimal(200))


def _escrow(sim: SimServer) -> None:
    sim.set_balance("demo-dhmad-key", "TND", held=Decimal("1300.250"))


def _outage(sim: SimServer) -> None:
    sim.set_fault("demo-sunor-key", "http500")


def _recover(sim: SimServer) -> None:
    sim.set_fault("demo-sunor-key", None)


def _top_up(sim: SimServer) -> None:
    sim.set_drain("demo-oneclick-key", Decimal(0))
    sim.set_balance("demo-oneclick-key", "DZD", available=Decimal(9000))


def populate(sim: SimServer) -> None:
    sim.add_account("oneclickdz", "demo-oneclick-key", balances={"DZD": {"available": 6000}})
    sim.add_account(
        "dhmad",
        "demo-dhmad-key",
        balances={"TND": {"available": "2450.500", "pending": "120.000", "held": "500.250"}},
    )
    sim.add_account("sunor", "demo-sunor-key", balances={"CREDITS": {"available": 950, "held": 10}})
    sim.add_account(
        "thedex",
        "demo-thedex-key",
        secret="demo-thedex-secret",
        balances={"USDT_TRON": {"available": "1520.75", "held": "0"}},
    )


def say(text: str) -> None:
    print(f"--- {text}", flush=True)


async def _scenario(sim: SimServer, speed: float, duration: float, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for step in script():
        delay = start + step.at / speed - loop.time()
        if step.at / speed > duration:
            break
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
                return
            except TimeoutError:
                pass
        say(f"t+{step.at:.0f}s {step.says}")
        step.act(sim)


@dataclass(frozen=True)
class Outcome:
    code: int
    seconds: float
    stopped_by: signal.Signals | None = None


async def _main(duration: float, speed: float, workdir: Path) -> Outcome:
    from balancewatch.config.load import parse_config
    from balancewatch.daemon.logs import setup_logging
    from balancewatch.daemon.service import Daemon, utcnow
    from balancewatch.state.sqlite import SqliteStore

    sim = SimServer()
    await sim.start()
    populate(sim)
    interval = max(1, round(INTERVAL / speed))
    text = DEMO_CONFIG.format(
        state=workdir / "demo.db",
        interval=interval,
        timeout_ms=interval * 750,
        **{p: sim.base_url(p) for p in ("oneclickdz", "dhmad", "sunor", "thedex")},
    )
    config_file = workdir / "demo.yaml"
    config_file.write_text(text, encoding="utf-8")
    config = parse_config(text, source=str(config_file))
    setup_logging("error")
    store = SqliteStore.open(workdir / "demo.db", now=utcnow())
    daemon = Daemon(config, store, config_path=config_file)
    say(
        f"balancewatch demo: 4 simulated providers on 127.0.0.1:{sim.port}, polled every "
        f"{interval}s; alerts print below. It runs for {duration:g} s (--duration); Ctrl-C "
        f"stops it sooner. State: {workdir} (removed at the end)."
    )
    say(
        "Your own config against simulated providers: `python -m balancewatch.sim` serves "
        "them and prints a config to start from; while it runs, `python -m balancewatch.sim "
        "set oneclickdz available 950` moves money (--help: faults, more)."
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    running = asyncio.create_task(daemon.main())
    stopped_by = await _own_stop_signals(daemon.stopping)
    await _announce_page(daemon, running)
    scenario = asyncio.create_task(_scenario(sim, speed, duration, daemon.stopping))
    try:
        await asyncio.wait_for(asyncio.shield(running), timeout=duration)
    except TimeoutError:
        daemon.stopping.set()
    code = await running
    scenario.cancel()
    await asyncio.gather(scenario, return_exceptions=True)
    store.close()
    await sim.stop()
    return Outcome(code, loop.time() - started, stopped_by[0] if stopped_by else None)


async def _announce_page(daemon: Daemon, running: asyncio.Task[int]) -> None:
    """Print the status page's address once the daemon listens (port 0: any free one)."""
    serving = asyncio.create_task(daemon.serving.wait())
    await asyncio.wait([serving, running], return_when=asyncio.FIRST_COMPLETED, timeout=10)
    serving.cancel()
    if daemon.web is not None:
        say(
            f"The status page: {daemon.web.address}?refresh=5 (open it in a browser; it "
            "reloads itself every 5 s while the demo runs)."
        )


async def _own_stop_signals(stopping: asyncio.Event) -> list[signal.Signals]:
    """Take SIGINT/SIGTERM over from the daemon, to tell an early stop from the end.

    ``Daemon.main`` sets its handlers before its first await; one turn of the loop lets it
    get there, and these replace them (they stop the daemon the same way).
    """
    await asyncio.sleep(0)
    received: list[signal.Signals] = []

    def stop(signum: signal.Signals) -> None:
        received.append(signum)
        stopping.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)
    return received


def run(duration: float = 75.0, speed: float = 1.0) -> int:
    """The demo; exit 0 when it ran its course, 128 + the signal when stopped early."""
    with tempfile.TemporaryDirectory(prefix="balancewatch-demo-") as tmp:
        try:
            outcome = asyncio.run(_main(duration, speed, Path(tmp)))
        except KeyboardInterrupt:  # Ctrl-C before the daemon took over the signals
            outcome = Outcome(130, 0.0, signal.SIGINT)
    if outcome.stopped_by is None:
        say("demo finished: that was the whole loop (poll, rules, alert lifecycle, outbox, notify)")
        return outcome.code
    name = "Ctrl-C" if outcome.stopped_by == signal.SIGINT else outcome.stopped_by.name
    print(file=sys.stderr)  # past the ^C the terminal echoed
    say(
        f"demo stopped early ({name}) after {outcome.seconds:.0f} s of {duration:g}; "
        f"its temporary state ({tmp}) is removed"
    )
    return 128 + outcome.stopped_by
