#!/usr/bin/env python3
"""Regenerate the status page's screenshots in docs/ (docs/web-*.png).

    .venv/bin/python scripts/screenshots.py

A week of polls of a dozen accounts is written to a temporary state database (drains,
top-ups, an escalation in progress, a provider failing, a silence, a disabled account),
the page is served from it in this process with the clock fixed at 03:00 UTC, and Debian's
chromium (``/usr/bin/chromium``, driven by Playwright; ``apt-get install chromium``) takes
the pictures: the overview on a desktop, an account's page, the overview on a phone in
light and dark, and the page a notification's acknowledgement link opens.
"""

from __future__ import annotations

import asyncio
import math
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from balancewatch.acklinks import AckClaim  # noqa: E402
from balancewatch.config.http import HttpSettings  # noqa: E402
from balancewatch.config.load import parse_config  # noqa: E402
from balancewatch.model import Balance, Severity, Snapshot  # noqa: E402
from balancewatch.records import (  # noqa: E402
    Acknowledgement,
    AlertState,
    Health,
    Notification,
    PollRecord,
)
from balancewatch.state.sqlite import SqliteStore  # noqa: E402
from balancewatch.web.app import Source, WebServer  # noqa: E402

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
STEP = timedelta(minutes=10)
WEEK = 7 * 24 * 6
CHROMIUM = "/usr/bin/chromium"
SHOP_EPISODE = NOW - timedelta(hours=3, minutes=10)
HTTP = HttpSettings(listen="127.0.0.1:0", public_url="https://status.example/", secret="s" * 32)  # type: ignore[arg-type]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

CONFIG = """\
defaults: {interval: 10m}
accounts:
  - {name: shop-topups, provider: oneclickdz, api_key: k-shop-topups-0001, tags: [dz, retail],
     rules: [{threshold: {below: {warning: 5000, critical: 3000}, clear_margin: 250}},
             {runway: {under: {warning: 12h, critical: 3h}}}]}
  - {name: sms-gateway, provider: sunor, api_key: k-sms-gateway-00001, tags: [messaging],
     rules: [{threshold: {below: {warning: 2000}}}]}
  - {name: music-credits, provider: sunor, api_key: k-music-credits-001, tags: [music],
     rules: [{threshold: {below: {warning: 500}}}]}
  - {name: escrow-tn, provider: dhmad, api_key: k-escrow-tn-000001, tags: [tn],
     rules: [{threshold: {below: {critical: 200}}},
             {held_increase: {kind: escrow, by: {amount: 500}}}]}
  - {name: crypto-wallet, provider: thedex, api_key: k-crypto-wallet-01, secret: s-crypto-0000001,
     tags: [crypto], rules: [{threshold: {currency: USDT_TRON, below: {critical: 100}}}]}
  - {name: airtime-dz, provider: oneclickdz, api_key: k-airtime-dz-00001, tags: [dz, retail],
     rules: [{threshold: {below: {warning: 20000, critical: 8000}}}]}
  - {name: payouts-eu, provider: sunor, api_key: k-payouts-eu-00001, tags: [finance],
     rules: [{threshold: {below: {warning: 1000}}}]}
  - {name: vouchers-tn, provider: dhmad, api_key: k-vouchers-tn-0001, tags: [tn, retail],
     rules: [{threshold: {below: {warning: 300}}}]}
  - {name: gift-cards, provider: oneclickdz, api_key: k-gift-cards-00001, tags: [retail],
     rules: [{threshold: {below: {warning: 10000}}}]}
  - {name: legacy-api, provider: sunor, api_key: k-legacy-api-00001, enabled: false}
"""


def sawtooth(i: int, start: int, spend: float, refill_every: int, noise: float) -> Decimal:
    """A balance spent steadily and topped up every ``refill_every`` polls."""
    since = i % refill_every
    wobble = math.sin(i * 0.7) * noise
    return Decimal(str(round(start - spend * since + wobble, 2)))


def series() -> dict[str, Callable[[int], dict[str, Balance]]]:
    """Each account's balances at poll ``i`` of the week (the last is now)."""
    last = WEEK - 1

    def shop(i: int) -> dict[str, Balance]:
        # topped up five days ago, now draining past its critical level
        if i < 300:
            value = sawtooth(i, 9000, 20, 300, 40)
        else:
            value = Decimal(str(round(9000 - 8.9 * (i - 300) + math.sin(i) * 30, 2)))
        return {"DZD": Balance(available=value)}

    def escrow(i: int) -> dict[str, Balance]:
        held = Decimal("500.250") if i < last - 150 else Decimal("1300.250")
        return {"TND": Balance(Decimal("2450.500") - Decimal(i) / 10, Decimal("120.000"), held)}

    return {
        "shop-topups": shop,
        "sms-gateway": lambda i: {"USD": Balance(available=sawtooth(i, 2600, 0.9, 2000, 3))},
        "music-credits": lambda i: {"CREDITS": Balance(available=Decimal(950 - i // 40))},
        "escrow-tn": escrow,
        "crypto-wallet": lambda i: {
            "USDT_TRON": Balance(available=sawtooth(i, 1520, 0.4, 5000, 2), held=Decimal(0))
        },
        "airtime-dz": lambda i: {"DZD": Balance(available=sawtooth(i, 60000, 45, 700, 300))},
        "payouts-eu": lambda i: {"EUR": Balance(available=sawtooth(i, 5200, 1.5, 900, 20))},
        "vouchers-tn": lambda i: {"TND": Balance(available=sawtooth(i, 900, 0.3, 3000, 4))},
        "gift-cards": lambda i: {"DZD": Balance(available=sawtooth(i, 48000, 12, 2000, 90))},
    }


def fill(store: SqliteStore) -> None:
    records = []
    failing_from = WEEK - 4
    for name, balances in series().items():
        for i in range(WEEK):
            at = NOW - (WEEK - 1 - i) * STEP - timedelta(minutes=2)
            if name == "music-credits" and i >= failing_from:
                continue
            snap = Snapshot(name, at, balances(i))
            records.append(PollRecord(name, at, snap, Health(name, last_ok_at=at, last_poll_at=at)))
    store.commit_polls(records)
    failing = Health(
        "music-credits",
        consecutive_failures=4,
        last_error="HTTP 500 from api.sunor.example (server error)",
        last_error_kind="transient",
        last_poll_at=NOW - timedelta(minutes=2),
    )
    store.commit_poll(PollRecord("music-credits", NOW, None, failing))
    latest = series()["shop-topups"](WEEK - 1)["DZD"].available
    assert latest is not None
    store.commit_poll(_alerts(latest))
    store.add_silence(
        "escrow-tn", "held_increase", NOW - timedelta(hours=1), NOW + timedelta(hours=5),
        "supplier settlement in progress",
    )  # fmt: skip
    store.acknowledge(
        Acknowledgement(
            "music-credits", "unreachable:*", NOW - timedelta(minutes=22), Severity.WARNING,
            NOW - timedelta(minutes=12), "alice",
        )
    )  # fmt: skip


def _alerts(latest: Decimal) -> PollRecord:
    shop = AlertState(
        account="shop-topups", key="threshold:DZD", rule="threshold", rule_type="threshold",
        currency="DZD", kind="state", status="firing", severity=Severity.CRITICAL,
        summary=f"available {latest:,.2f} DZD is below 3,000.00 DZD",
        started_at=SHOP_EPISODE, notified_severity=Severity.CRITICAL,
    )  # fmt: skip
    unreachable = AlertState(
        account="music-credits", key="unreachable:*", rule="unreachable", rule_type="health",
        currency=None, kind="state", status="firing", severity=Severity.WARNING,
        summary="4 polls failed in a row: HTTP 500 from api.sunor.example",
        started_at=NOW - timedelta(minutes=22), notified_severity=Severity.WARNING,
    )  # fmt: skip

    def note(
        nid: str, account: str, kind: str, sev: Severity, ago: timedelta, title: str
    ) -> Notification:
        return Notification(
            nid, account, "threshold:DZD" if account == "shop-topups" else "x", kind,  # type: ignore[arg-type]
            sev, title, "", NOW - ago, "p", {"currency": "DZD", "kind": "available"},
        )  # fmt: skip

    notes = [
        note("a1", "shop-topups", "firing", Severity.WARNING, timedelta(days=5, hours=2),
             "[WARNING] shop-topups: available 4,980.00 DZD is below 5,000.00 DZD"),
        note("a2", "shop-topups", "resolved", Severity.WARNING, timedelta(days=5),
             "[RESOLVED] shop-topups: available back to 9,000.00 DZD"),
        note("a3", "shop-topups", "firing", Severity.WARNING, timedelta(hours=26),
             "[WARNING] shop-topups: available 4,990.10 DZD is below 5,000.00 DZD"),
        note("a4", "shop-topups", "escalated", Severity.CRITICAL, timedelta(hours=3, minutes=10),
             "[CRITICAL] shop-topups: available 2,998.70 DZD is below 3,000.00 DZD"),
    ]  # fmt: skip
    health = Health("shop-topups", last_ok_at=NOW - timedelta(minutes=2))
    return PollRecord("shop-topups", NOW, None, health, [shop, unreachable], notes)


def serve(store: SqliteStore, text: str) -> tuple[str, Callable[[], None]]:
    config = parse_config(text)
    loop = asyncio.new_event_loop()
    pool = ThreadPoolExecutor(max_workers=1)

    async def db(call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, call, *args)

    source = Source(store, db, lambda: config, list, None, clock=lambda: NOW)
    server = WebServer(source, HTTP)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    port = asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        pool.shutdown()

    return f"http://127.0.0.1:{port}", stop


def ack_token() -> str:
    """The link a reminder about shop-topups' critical alert carries."""
    signer = HTTP.ack_signer()
    assert signer is not None
    claim = AckClaim("shop-topups", "threshold:DZD", SHOP_EPISODE, NOW + timedelta(days=7))
    return signer.sign(claim)


def shoot(base: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    desktop, phone = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
    shots = [
        ("web-overview.png", "/?refresh=off", desktop, "light"),
        ("web-account.png", "/accounts/shop-topups?range=7d&refresh=off", desktop, "light"),
        ("web-phone.png", "/?refresh=off", phone, "light"),
        ("web-phone-dark.png", "/?refresh=off", phone, "dark"),
        ("web-ack.png", "/ack/" + ack_token(), desktop, "light"),
    ]
    written = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=ARGS, device_scale_factor=1
        )
        page = context.new_page()
        for name, path, size, scheme in shots:
            page.set_viewport_size(size)
            page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            target = out / name
            page.screenshot(path=str(target), full_page=True)
            written.append(target)
        context.close()
    return written


def main() -> int:
    out = ROOT / "docs"
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore.open(Path(tmp) / "state.db", now=NOW)
        fill(store)
        base, stop = serve(store, CONFIG)
        try:
            for path in shoot(base, out):
                print(path.relative_to(ROOT))
        finally:
            stop()
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
