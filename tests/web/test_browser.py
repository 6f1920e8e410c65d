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

from balancewatch.records import Notification
from balancewatch.sim.server import SimServer
from balancewatch.state.sqlite import SqliteStore
from tests.daemon.test_service import Daemon
from tests.daemon.watching import wait_until
from tests.receivers import JsonReceiver, Received, free_port

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


# ---------------------------------------------------------------- acknowledging from a link


@pytest.fixture
def reminding(tmp_path: Path) -> Iterator[tuple[Daemon, SimServer, JsonReceiver]]:
    """A daemon polling every second and reminding every 2 s, whose notifications carry
    acknowledgement links to its page (public_url, and a secret read from a file)."""
    with SimServer() as sim, JsonReceiver() as receiver:
        sim.add_account("oneclickdz", "shop-key-123456", balances={"DZD": {"available": 6000}})
        sim.add_account("sunor", "credits-key-123456", balances={"CREDITS": {"available": 950}})
        daemon = Daemon(tmp_path, sim, receiver)
        port = free_port()
        secret = tmp_path / "web-secret"
        secret.write_text("f3" * 32 + "\n")
        secret.chmod(0o600)
        http = f"http:\n  listen: 127.0.0.1:{port}\n  public_url: http://127.0.0.1:{port}/\n"
        daemon.write_config(extra=f"{http}  secret: file:{secret}\n")
        daemon.config.write_text(daemon.config.read_text().replace("repeat: 1h", "repeat: 2s"))
        daemon.start()
        try:
            wait_until(lambda: daemon.polls("shop") >= 1, what="a first poll")
            yield daemon, sim, receiver
        finally:
            assert daemon.stop() == 0


def shop_reminders(receiver: JsonReceiver) -> list[Received]:
    return [r for r in list(receiver.received) if "shop" in r.text and "still firing" in r.text]


def sent_ids(received: list[Received]) -> list[str]:
    return [m for r in received for m in re.findall(r"id ([0-9a-f]{10})", r.text)]


def test_an_acknowledgement_made_in_the_browser_stops_the_reminders(
    chromium: BrowserContext, reminding: tuple[Daemon, SimServer, JsonReceiver]
) -> None:
    """Shop drains to critical and is reminded of every 2 s, each reminder with its link;
    the browser opens the link (nothing acknowledged yet), names itself and clicks. While
    the alert keeps firing, for 8 more polls (4 reminders' worth), no reminder decided
    after that click is sent; the account's page says who acknowledged it."""
    daemon, sim, receiver = reminding
    sim.set_drain("shop-key-123456", Decimal(1500))
    wait_until(lambda: len(shop_reminders(receiver)) >= 2, timeout=40, what="two reminders")
    link = re.search(r"(http://\S+/ack/\S+)", shop_reminders(receiver)[-1].text)
    assert link is not None, shop_reminders(receiver)[-1].text

    tab = Watched(chromium.new_page())
    page = tab.page
    page.goto(link.group(1))
    assert page.locator("main .alert.critical").count() == 1
    assert page.locator("p.banner.ack").count() == 0
    page.fill("input[name=name]", "ana")
    page.click("button:has-text('acknowledge')")
    page.wait_for_load_state()
    assert page.locator("p.banner.ack").inner_text().startswith("Acknowledged by ana at ")

    polls = daemon.polls("shop")
    wait_until(lambda: daemon.polls("shop") >= polls + 8, timeout=30, what="8 more polls")
    store = SqliteStore.open_readonly(daemon.workdir / "state.db")
    try:
        (ack,) = store.acknowledgements("shop")
        notes: dict[str, Notification] = {n.id: n for n in store.notifications_of("shop", 500)}
        (firing,) = store.firing_alerts()
    finally:
        store.close()
    assert ack.acked_by == "ana"
    assert (firing.account, firing.severity.label) == ("shop", "critical")
    reminded = [notes[i] for i in sent_ids(shop_reminders(receiver))]
    assert reminded  # the ids of the messages are the store's
    assert [n.created_at for n in reminded if n.created_at > ack.acked_at] == []
    assert not [n for n in notes.values() if n.kind == "repeat" and n.created_at > ack.acked_at]

    page.goto(link.group(1).split("/ack/")[0] + "/accounts/shop")
    assert "acknowledged by ana" in page.locator("section.firing").inner_text()
    assert tab.problems == []
