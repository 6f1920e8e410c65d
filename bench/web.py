"""The status page's goals (issue 14), measured: ``.venv/bin/python -m bench.web``.

1. **A 30-day chart of a 1-minute poll** (43,200 snapshots): the store's downsampled
   series (300 spans) and the SVG, timed in this process on a real SQLite file, 30 times;
   then the whole account page over HTTP from a served copy, 30 times.
2. **The overview of 10,000 accounts while the daemon polls them once a minute**: the
   simulator (``bench.simhost``) serves N accounts, ``balancewatch run`` polls them with the
   bench's config (``bench.workload``) plus ``http: {listen: ...}``. After a warm-up
   interval:

   - CPU per poll with the page closed and with it open, alternately, ``--windows`` pairs
     of ``--window`` seconds: "open" is a browser reloading ``/`` every 30 s with its 50
     sparklines (the daemon's ``utime + stime`` from /proc over the polls it logged);
   - then ``--loads`` loads of ``/`` (the HTML, one a second) with their wall time,
     reported as p50 / p95 / max, and the same page with the sparklines a browser would
     fetch (6 at a time; those it holds as ``immutable`` are not asked for again).

Writes ``bench/results/web.json`` and prints a summary. ``--small`` (N=200, 5 s interval,
short windows, about a minute; CI runs it) judges no timing: it fails only when something
did not run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import proc
from bench.phases import PYTHON, SimHost, clean_env, free_port, sleep_until, stop
from bench.receiver import Receiver
from bench.workload import daemon_config

ROOT = Path(__file__).resolve().parent.parent
SPARK = 'src="(/accounts/[^"]+/spark.svg[^"]*)"'


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "p95_ms": round(percentile(values, 0.95) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
        "n": len(values),
    }


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
        return body


# ---------------------------------------------------------------- the chart


def chart_phase(tmp: Path, repeats: int) -> dict[str, Any]:
    """43,200 one-minute snapshots of one account; series + SVG, then the page over HTTP."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from balancewatch.model import Balance, Snapshot
    from balancewatch.records import Health, PollRecord
    from balancewatch.state.sqlite import SqliteStore
    from balancewatch.web import svg

    now = datetime(2026, 3, 2, tzinfo=UTC)
    minute = timedelta(minutes=1)
    store = SqliteStore.open(tmp / "chart.db", now=now)
    records = []
    for i in range(43_200):
        at = now - (43_200 - i) * minute
        amount = Decimal(90_000) - Decimal(i) * Decimal("1.75") + Decimal(i % 17)
        snap = Snapshot("big", at, {"DZD": Balance(available=amount)})
        records.append(PollRecord("big", at, snap, Health("big", last_ok_at=at)))
    for start in range(0, len(records), 5000):
        store.commit_polls(records[start : start + 5000])
    since = now - timedelta(days=30)
    timings: dict[str, list[float]] = {"series": [], "svg": [], "both_cpu": []}
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        buckets = store.series("big", "DZD", "available", since, now, 300)
        mid = time.perf_counter()
        text = svg.chart(svg.points(buckets), since, now, currency="DZD", title="30 d")
        end = time.perf_counter()
        timings["series"].append(mid - wall)
        timings["svg"].append(end - mid)
        timings["both_cpu"].append(time.process_time() - cpu)
    figures = {k: summary_ms(v) for k, v in timings.items()}
    figures["points"] = text.count(" L") + 1
    figures["page"] = _chart_page(store, now, repeats)
    store.close()
    return figures


def _chart_page(store: Any, now: Any, repeats: int) -> dict[str, float]:
    """GET /accounts/big?range=30d from the page served over this store."""
    import asyncio
    import threading

    from balancewatch.config.http import HttpSettings
    from balancewatch.config.load import parse_config
    from balancewatch.web.app import Source, WebServer

    config = parse_config(
        "accounts:\n  - {name: big, provider: sunor, api_key: k-big-0000000001, interval: 1m,"
        " rules: [{threshold: {below: {warning: 5000, critical: 1000}}}]}\n"
    )
    loop = asyncio.new_event_loop()
    pool = ThreadPoolExecutor(max_workers=1)

    async def db(call: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, call, *args)

    server = WebServer(
        Source(store, db, lambda: config, list, clock=lambda: now),
        HttpSettings(listen="127.0.0.1:0"),
    )
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    port = asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    walls = []
    for _ in range(repeats):
        started = time.perf_counter()
        body = fetch(f"http://127.0.0.1:{port}/accounts/big?range=30d&refresh=off")
        walls.append(time.perf_counter() - started)
    assert b"svg" in body
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    pool.shutdown()
    return summary_ms(walls)


# ---------------------------------------------------------------- the overview under load


class Browser:
    """What a browser showing the page does: load /, then the sparklines it does not hold
    yet (``immutable`` ones are kept, as a browser's cache keeps them), 6 at a time."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.pool = ThreadPoolExecutor(max_workers=6)
        self.kept: set[str] = set()
        self.fetched = 0

    def _image(self, url: str) -> None:
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
            if "immutable" in response.headers.get("Cache-Control", ""):
                self.kept.add(url)

    def page(self, path: str = "/") -> tuple[float, float]:
        """(seconds for the HTML, seconds for the HTML and the sparklines to fetch)."""
        import re

        started = time.perf_counter()
        html = fetch(self.base + path).decode()
        html_done = time.perf_counter()
        sparks = [self.base + p.replace("&amp;", "&") for p in re.findall(SPARK, html)]
        wanted = [url for url in sparks if url not in self.kept]
        self.fetched += len(wanted)
        list(self.pool.map(self._image, wanted))
        return html_done - started, time.perf_counter() - started


def polls_logged(log: Path, start: int, end: int) -> int:
    with log.open("rb") as f:
        f.seek(start)
        return f.read(end - start).count(b'"event": "poll"')


def window(
    daemon: subprocess.Popen[bytes], log: Path, seconds: float, browser: Browser | None
) -> dict[str, Any]:
    """CPU per poll over ``seconds``; with a browser reloading every 30 s if given."""
    before, offset = proc.sample(daemon.pid), log.stat().st_size
    ends = time.time() + seconds
    loads = []
    while time.time() < ends:
        if browser is not None:
            loads.append(browser.page()[0])
        sleep_until(min(ends, time.time() + 30), daemon)
    after, polls = proc.sample(daemon.pid), polls_logged(log, offset, log.stat().st_size)
    cpu = after.cpu - before.cpu
    return {
        "page_open": browser is not None,
        "seconds": round(after.at - before.at, 1),
        "polls": polls,
        "cpu_s": round(cpu, 2),
        "cpu_per_poll_ms": round(cpu / polls * 1000, 3) if polls else None,
        "page_loads": len(loads),
    }


def overview_phase(
    count: int, interval: float, pairs: int, seconds: float, loads: int
) -> dict[str, Any]:
    env = clean_env()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp_dir:
        tmp = Path(tmp_dir)
        sim = SimHost(count, tmp / "accounts.json", env)
        receiver = Receiver().start()
        port = free_port()
        text = daemon_config(
            sim.accounts, db=tmp / "state.db", receiver_url=receiver.url, interval=interval,
            timeout=min(10.0, interval * 0.8),
        )  # fmt: skip
        config = tmp / "daemon.yaml"
        config.write_text(text + f"http:\n  listen: 127.0.0.1:{port}\n", encoding="utf-8")
        log = tmp / "daemon.log"
        with log.open("wb") as out:
            daemon = subprocess.Popen(
                [PYTHON, "-m", "balancewatch", "run", "-c", str(config)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            )  # fmt: skip
        try:
            sleep_until(time.time() + interval * 1.1, daemon)  # every account polled once
            browser = Browser(f"http://127.0.0.1:{port}")
            windows = []
            for _ in range(pairs):
                windows.append(window(daemon, log, seconds, None))
                windows.append(window(daemon, log, seconds, browser))
            html, full = [], []
            for _ in range(loads):
                started = time.time()
                h, f = browser.page()
                html.append(h)
                full.append(f)
                sleep_until(started + 1.0, daemon)
            status_api = [_timed(browser.base + "/api/v1/status") for _ in range(5)]
        finally:
            stop(daemon)
            receiver.stop()
            sim.close()
    closed = [w["cpu_per_poll_ms"] for w in windows if not w["page_open"] and w["cpu_per_poll_ms"]]
    opened = [w["cpu_per_poll_ms"] for w in windows if w["page_open"] and w["cpu_per_poll_ms"]]
    return {
        "accounts": count,
        "interval_s": interval,
        "windows": windows,
        "cpu_per_poll_closed_ms": closed,
        "cpu_per_poll_open_ms": opened,
        "overview_html": summary_ms(html),
        "overview_with_sparklines": summary_ms(full),
        "sparklines_fetched": browser.fetched,
        "status_api": summary_ms(status_api),
    }


def _timed(url: str) -> float:
    started = time.perf_counter()
    fetch(url)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--windows", type=int, default=2, help="pairs of closed/open windows")
    parser.add_argument("--window", type=float, default=120.0, help="seconds per window")
    parser.add_argument("--loads", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--small", action="store_true", help="N=200, short: checks it runs")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "web.json")
    args = parser.parse_args(argv)
    if args.small:
        args.accounts, args.interval, args.windows, args.window, args.loads = 200, 5.0, 1, 10.0, 10
        args.repeats = 3
        args.out = ROOT / "bench" / "results" / "small" / "web.json"
    started = time.time()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        chart = chart_phase(Path(tmp), args.repeats)
    print(json.dumps({"chart": chart}, indent=2), flush=True)
    overview = overview_phase(args.accounts, args.interval, args.windows, args.window, args.loads)
    result = {
        "command": "python -m bench.web " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
        "cores": len(__import__("os").sched_getaffinity(0)),
        "chart": chart,
        "overview": overview,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(overview, indent=2))
    # judges no timing: fails only when something did not run
    if not all(w["polls"] for w in overview["windows"]) or chart["points"] < 2:
        print("bench.web: a window logged no poll, or the chart had no points", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
