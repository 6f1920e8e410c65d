"""The page served from a real store on a loop in a thread, for tests that read it over HTTP.

The store is real SQLite, filled with :class:`PollRecord` s as the daemon commits them;
reads run on a one-thread executor, as the daemon's ``db`` does.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import Message
from pathlib import Path
from typing import Any

from aiohttp import web

from balancewatch.config.load import Config, parse_config
from balancewatch.model import Balance, Severity, Snapshot
from balancewatch.records import AlertState, Health, Notification, PollRecord
from balancewatch.state.sqlite import SqliteStore
from balancewatch.web.app import Source, WebServer

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)

CONFIG = """\
accounts:
  - name: shop
    provider: oneclickdz
    api_key: canaryKEYshop0001
    tags: [dz, retail]
    rules:
      - threshold: {below: {warning: 5000, critical: 3000}}
  - name: credits
    provider: sunor
    api_key: canaryKEYcredits1
    tags: [music]
    rules:
      - threshold: {below: {warning: 500}}
  - name: broken
    provider: dhmad
    api_key: canaryKEYbroken01
  - name: fresh
    provider: thedex
    api_key: canaryKEYfresh001
    secret: canarySECRETfresh1
"""


@dataclass
class Answer:
    status: int
    headers: Message
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Page:
    """A served page over a store; ``get`` answers as a browser would see it."""

    base: str
    store: SqliteStore
    config: Config
    now: list[datetime] = field(default_factory=lambda: [NOW])

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return self.request("GET", path, headers=headers)

    def request(
        self,
        method: str,
        path: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        req = urllib.request.Request(
            self.base + path, data=data, method=method, headers=headers or {}
        )
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(req, timeout=10) as response:
                return Answer(response.status, response.headers, response.read().decode())
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.headers, error.read().decode())


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fill(store: SqliteStore) -> None:
    """shop drains for an hour and fires critical; credits is fine; broken fails; fresh
    was never polled."""
    records = []
    for i in range(60):
        at = NOW - (60 - i) * MIN
        amount = Decimal(6000) - Decimal(55) * i
        snap = Snapshot("shop", at, {"DZD": Balance(available=amount, held=Decimal("10.50"))})
        records.append(PollRecord("shop", at, snap, Health("shop", last_ok_at=at, last_poll_at=at)))
        credits = Snapshot("credits", at, {"CREDITS": Balance(available=Decimal(950))})
        records.append(PollRecord("credits", at, credits, Health("credits", last_ok_at=at)))
    firing = AlertState(
        account="shop",
        key="threshold:DZD",
        rule="threshold",
        rule_type="threshold",
        currency="DZD",
        kind="state",
        status="firing",
        severity=Severity.CRITICAL,
        summary="available 2,755.00 DZD is below 3,000.00 DZD",
        started_at=NOW - 5 * MIN,
        notified_severity=Severity.CRITICAL,
    )
    note = Notification(
        id="n1",
        account="shop",
        alert_key="threshold:DZD",
        kind="firing",
        severity=Severity.CRITICAL,
        title="[CRITICAL] shop: available below 3,000.00 DZD",
        body="...",
        created_at=NOW - 5 * MIN,
        poll_id="p1",
        fields={"currency": "DZD"},
    )
    records.append(
        PollRecord("shop", NOW - MIN, None, Health("shop", last_ok_at=NOW - MIN), [firing], [note])
    )
    broken = Health(
        "broken",
        consecutive_failures=3,
        last_error="HTTP 500 from the provider",
        last_error_kind="transient",
        last_poll_at=NOW - MIN,
    )
    records.append(PollRecord("broken", NOW - MIN, None, broken))
    store.commit_polls(records)


@contextmanager
def serving(
    tmp_path: Path,
    config_text: str = CONFIG,
    *,
    fill_store: Callable[[SqliteStore], None] = fill,
    health: Callable[[], list[str]] = list,
    metrics: Callable[[], bytes] | None = None,
    routes: Callable[[web.Application], None] | None = None,
) -> Iterator[Page]:
    config = parse_config(config_text)
    store = SqliteStore.open(tmp_path / "state.db", now=NOW)
    fill_store(store)
    pool = ThreadPoolExecutor(max_workers=1)
    loop = asyncio.new_event_loop()
    page = Page("", store, config)

    async def db(call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, call, *args)

    source = Source(store, db, lambda: page.config, health, metrics, clock=lambda: page.now[0])
    server = WebServer(
        source, config.http or parse_config(config_text + "http: {listen: '127.0.0.1:0'}\n").http
    )  # type: ignore[arg-type]
    if routes is not None:
        routes(server.app)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    port = asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    page.base = f"http://127.0.0.1:{port}"
    try:
        yield page
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        pool.shutdown()
        store.close()
