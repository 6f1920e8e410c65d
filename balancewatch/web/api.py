"""The read-only JSON API, ``/metrics`` and ``/healthz``.

``/api/v1/status`` is :func:`balancewatch.web.data.status_data`, the very function behind
``balancewatch status --json``. Amounts are strings in plain positional notation.

``/healthz`` is served by the event loop it reports on. When the loop is stuck, nothing
answers: the probe times out, which every prober reads as unhealthy, and systemd's
watchdog (``WatchdogSec=``, pinged from the same loop) restarts the daemon. A loop that
was stuck and recovers says so (``event loop stuck for Ns``) until its heartbeat catches
up; the other problems (nothing polled, outbox not processed) are listed as before.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from balancewatch.model import BALANCE_KINDS, KIND_ALIASES
from balancewatch.units import parse_duration
from balancewatch.web.app import SOURCE, fail
from balancewatch.web.data import history_rows, status_data

LONGEST = timedelta(days=400)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/api/v1/accounts/{name}/history", history)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)


def _json(data: Any) -> web.Response:
    return web.Response(text=json.dumps(data, indent=2) + "\n", content_type="application/json")


async def status(request: web.Request) -> web.Response:
    source = request.app[SOURCE]
    if request.query:
        raise fail(400, "/api/v1/status takes no parameters")
    names = list(source.listing().by_name)
    return _json(await source.db(status_data, source.store, names, source.clock()))


def _since(text: str, now: datetime) -> datetime:
    """``24h`` (a duration back from now) or an ISO 8601 instant with its offset."""
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise fail(
            400, f"since: {text[:40]!r} is neither a duration (24h, 7d) nor an ISO 8601 instant"
        ) from None
    if instant.tzinfo is None:
        raise fail(400, "since: give the instant's offset (2024-05-01T00:00:00+00:00 or ...Z)")
    return instant


async def history(request: web.Request) -> web.Response:
    """``?since=24h`` (default) or an instant; ``kind=`` one kind; ``currency=`` one currency."""
    source = request.app[SOURCE]
    name = request.match_info["name"]
    if name not in source.listing().by_name:
        raise fail(404, f"no account named {name[:100]!r} in the config")
    unknown = sorted(set(request.query) - {"since", "kind", "currency"})
    if unknown:
        raise fail(400, f"unknown parameter {unknown[0]!r}; known: since, kind, currency")
    now = source.clock()
    since = _since(request.query.get("since", "24h"), now)
    if now - since > LONGEST:
        raise fail(400, "since: at most 400 days back")
    kind = request.query.get("kind")
    if kind is not None:
        kind = KIND_ALIASES.get(kind, kind)
        if kind not in BALANCE_KINDS:
            raise fail(400, f"kind must be one of {', '.join(BALANCE_KINDS)}")
    currency = request.query.get("currency")
    snaps = await source.db(source.store.history, name, since)
    rows = [r for r in history_rows(snaps) if currency is None or r["currency"] == currency]
    if kind is not None:
        rows = [{"taken_at": r["taken_at"], "currency": r["currency"], kind: r[kind]} for r in rows]
    return _json({"account": name, "since": since.isoformat(), "rows": rows})


async def metrics(request: web.Request) -> web.Response:
    source = request.app[SOURCE]
    if source.metrics is None:
        raise fail(404, "no metrics in this process")
    response = web.Response(body=source.metrics())
    response.headers["Content-Type"] = source.metrics_type
    return response


async def healthz(request: web.Request) -> web.Response:
    found = request.app[SOURCE].health()
    text = "\n".join(found) if found else "ok"
    return web.Response(text=text + "\n", status=503 if found else 200)
