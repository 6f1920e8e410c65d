"""The page in a real browser: Debian's chromium driven by Playwright, against a real
`balancewatch run` polling the simulator.

Chromium is a system package (`apt-get install chromium`, as .ci/run does); Playwright's
own browser download is never used. Without it these tests fail, saying so: they are not
skipped.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    sync_playwright,
)

from balancewatch.sim.server import SimServer
from tests.daemon.test_service import Daemon, wait_until
from tests.receivers import JsonReceiver, free_port

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}


def launch(playwright: Playwright, profile: str, *, script: bool = True) -> BrowserContext:
    """Debian's chromium, headless, with a fresh profile (fails, never skips, without it)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)")
    return playwright.chromium.launch_persistent_context(
        profile,
        executable_path=str(CHROMIUM),
        headless=True,
        args=ARGS,
        java_script_enabled=script,
    )


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def chromium(playwright: Playwright) -> Iterator[BrowserContext]:
    with tempfile.TemporaryDirectory() as profile:
        context = launch(playwright, profile)
        yield context
        context.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Daemon, SimServer, str]]:
    """A daemon polling two simulated accounts every second, its page on a free port."""
    with SimServer() as sim, JsonReceiver() as receiver:
        sim.add_account("oneclickdz", "shop-key-123456", balances={"DZD": {"available": 6000}})
        sim.add_account("sunor", "credits-key-123456", balances={"CREDITS": {"available": 950}})
        daemon = Daemon(tmp_path, sim, receiver)
        port = free_port()
        daemon.write_config(extra=f"http:\n  listen: 127.0.0.1:{port}\n")
        daemon.start()
        try:
            wait_until(lambda: daemon.polls("shop") >= 2 and daemon.polls("credits") >= 1)
            yield daemon, sim, f"http://127.0.0.1:{port}"
        finally:
            assert daemon.stop() == 0


class Watched:
    """A tab whose console errors, page errors and failed loads are kept."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", self._failed)
        page.on(
            "response",
            lambda r: r.status >= 400 and self.problems.append(f"{r.status}: {r.url}"),
        )

    def _failed(self, request: Request) -> None:
        # A load the tab itself cancelled by moving on (ERR_ABORTED) is not the page's fault.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"failed: {request.url} ({request.failure})")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")


def series_ys(page: Page) -> list[Decimal]:
    """The y of each vertex of the first chart's line (SVG y grows downwards)."""
    d = page.get_attribute("svg.chart path.series", "d")
    assert d, "no chart line"
    return [Decimal(p.split(",")[1]) for p in re.findall(r"[\d.]+,[\d.]+", d)]


def test_a_drained_balance_shows_as_a_firing_alert_and_a_falling_chart(
    chromium: BrowserContext, served: tuple[Daemon, SimServer, str]
) -> None:
    """The page lists both accounts, all ok, with no console error; the simulator drains
    shop; a refresh shows it critical with its alert first, and its chart falling."""
    _, sim, base = served
    tab = Watched(chromium.new_page())
    page = tab.page
    page.goto(base + "/")
    assert page.locator("a.name").all_inner_texts() == ["credits", "shop"]
    assert page.locator("tr.ok").count() == 2
    assert page.locator('meta[http-equiv="refresh"]').get_attribute("content") == "30"

    sim.set_drain("shop-key-123456", Decimal(600))
    wait_until(lambda: state_after_reload(page, "shop") == "critical", timeout=30, what="critical")
    assert page.locator("a.name").all_inner_texts() == ["shop", "credits"]  # worst first
    assert page.locator("tr.critical .alert.critical").inner_text().startswith("CRITICAL")
    assert "below 1,000.00 DZD" in page.locator("tr.critical").inner_text()
    spark = page.locator("tr.critical img.spark")
    assert spark.evaluate("img => img.complete && img.naturalWidth > 0")

    page.click("tr.critical a.name")
    page.wait_for_load_state()
    ys = series_ys(page)
    assert ys[-1] > ys[0]  # lower on the chart: the amount fell
    assert page.locator("svg.chart line.level.critical").count() == 1
    assert page.locator("svg.chart rect.band.critical").count() >= 1
    assert tab.problems == []


def state_after_reload(page: Page, account: str) -> str | None:
    """Reload, as the page's own refresh does, and read the account's row's state."""
    page.reload()
    row = page.locator("tbody tr", has=page.locator("a.name", has_text=account))
    return row.get_attribute("class")


def test_on_a_phone_the_page_fits_the_screen(
    chromium: BrowserContext, served: tuple[Daemon, SimServer, str]
) -> None:
    """At a phone's width nothing scrolls sideways, on the overview or an account's page."""
    _, _, base = served
    tab = Watched(chromium.new_page())
    page = tab.page
    page.set_viewport_size(PHONE)
    for path in ("/", "/accounts/shop", "/accounts/shop?range=7d"):
        page.goto(base + path)
        width = page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= PHONE["width"], (path, width)
    assert tab.problems == []


def test_the_pages_work_without_javascript(
    playwright: Playwright, served: tuple[Daemon, SimServer, str]
) -> None:
    """Script off: the filter form filters, links lead to the account's page and its ranges."""
    _, _, base = served
    with tempfile.TemporaryDirectory() as profile:
        context = launch(playwright, profile, script=False)
        try:
            tab = Watched(context.new_page())
            page = tab.page
            page.goto(base + "/")
            page.fill("input[name=name]", "cred")
            page.click("button[type=submit]")
            page.wait_for_load_state()
            assert "name=cred" in page.url
            assert page.locator("a.name").all_inner_texts() == ["credits"]
            page.click("a.name")
            page.wait_for_load_state()
            page.click("nav.ranges >> text=7d")
            page.wait_for_load_state()
            assert page.url.endswith("/accounts/credits?range=7d")
            assert page.locator("svg.chart").count() >= 1
            assert tab.problems == []
        finally:
            context.close()
