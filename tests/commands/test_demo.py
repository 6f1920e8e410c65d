"""`balancewatch demo` says how long it runs, and Ctrl-C stops it early, cleanly.

The demo runs as a real process (`python -m balancewatch demo`); the test reads its output
line by line and sends a real SIGINT, as a terminal's Ctrl-C does. (That it runs to its
first alert and finishes by itself is `test_demo_runs_to_its_first_alert` in
test_daemon.py.)
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALERT = re.compile(r"^\[(WARNING|CRITICAL)\] ")


def test_the_banner_says_how_long_it_runs_and_ctrl_c_stops_it_early_without_a_traceback() -> None:
    """The banner names `--duration` and how to try one's own config on the simulator;
    SIGINT after the first alert ends it at once with its own message, exit 130, no
    traceback, and its temporary state directory removed."""
    process = subprocess.Popen(
        # --speed 2 polls every second, so the first alert comes after ~6 s, not ~12 s
        [sys.executable, "-m", "balancewatch", "demo", "--duration", "90", "--speed", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    seen: list[str] = []
    while not seen or not ALERT.match(seen[-1]):
        line = process.stdout.readline()
        assert line, f"the demo ended before its first alert: {seen}"
        seen.append(line.rstrip("\n"))
    process.send_signal(signal.SIGINT)
    rest, err = process.communicate(timeout=30)

    banner = seen[0]
    assert "It runs for 90 s (--duration); Ctrl-C stops it sooner." in banner
    state = Path(re.search(r"State: (\S+) \(removed at the end\)", banner).group(1))  # type: ignore[union-attr]
    assert "`python -m balancewatch.sim` serves them and prints a config" in seen[1]
    assert "`python -m balancewatch.sim set oneclickdz available 950`" in seen[1]

    assert process.returncode == 130
    last = rest.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(
        rf"--- demo stopped early \(Ctrl-C\) after \d+ s of 90; "
        rf"its temporary state \({re.escape(str(state))}\) is removed",
        last,
    )
    assert "demo finished" not in rest
    assert "Traceback" not in err
    assert err.strip() == ""
    assert not state.exists()


def test_the_demo_serves_the_status_page_and_prints_its_address() -> None:
    """A line gives the page's address; the page there lists the demo's accounts, then the
    demo is stopped as a terminal would."""
    import urllib.request

    process = subprocess.Popen(
        [sys.executable, "-m", "balancewatch", "demo", "--duration", "60"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        found = None
        while found is None:
            line = process.stdout.readline()
            assert line, "the demo ended without printing the page's address"
            found = re.search(r"The status page: (http://127\.0\.0\.1:\d+/)\?refresh=5", line)
        with urllib.request.urlopen(found.group(1), timeout=10) as response:
            page = response.read().decode()
        for name in ("shop-topups", "escrow-tn", "music-credits", "crypto-wallet"):
            assert f'href="/accounts/{name}"' in page
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    assert process.returncode == 130
