"""The HTML pages: ``/``, ``/accounts/<name>``, its sparkline, the stylesheet and icon."""

from __future__ import annotations

from aiohttp import web

from balancewatch.poll.plan import AccountPlan
from balancewatch.web import account, overview, spark
from balancewatch.web.app import SITE, SOURCE, fail, render


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/accounts/{name}", account_page)
    app.router.add_get("/accounts/{name}/spark.svg", sparkline)
    app.router.add_get("/static/{file}", static)


def find_account(request: web.Request) -> AccountPlan:
    """The account the address names, as the page lists it (404 if none)."""
    name = request.match_info["name"]
    found = request.app[SOURCE].listing().by_name.get(name)
    if found is not None:
        return found
    raise fail(404, f"No account named {name[:100]!r} in the config.")


async def index(request: web.Request) -> web.Response:
    source = request.app[SOURCE]
    try:
        query = overview.Query.parse(request.query)
    except overview.BadQuery as error:
        raise fail(400, str(error)) from None
    runways = request.app[SITE].runways
    model = await source.db(
        overview.overview, source.store, source.listing(), query, source.clock(), runways
    )
    if query.page > model.pages:
        raise fail(404, f"There are {model.pages} page(s); page {query.page} is past the last.")
    return render(
        request,
        "index.html",
        o=model,
        q=query,
        ranges=list(spark.RANGES),
        states=overview.FILTER_STATES,
        refresh=query.refresh,
    )


async def account_page(request: web.Request) -> web.Response:
    source = request.app[SOURCE]
    item = find_account(request)
    try:
        span, _ = account.parse_range(request.query)
        refresh = overview.parse_refresh(request.query)
    except overview.BadQuery as error:
        raise fail(400, str(error)) from None
    model = await source.db(account.detail, source.store, item, span, source.clock())
    param = overview.refresh_param(refresh)
    return render(
        request,
        "account.html",
        d=model,
        refresh=refresh,
        keep=f"&refresh={param}" if param else "",
    )


async def sparkline(request: web.Request) -> web.Response:
    """``?range=24h``, and as the overview links it ``&tone=<state>&at=<latest poll>``."""
    source = request.app[SOURCE]
    item = find_account(request)
    span, tone, at = (request.query.get(k) for k in ("range", "tone", "at"))
    if span not in spark.RANGES:
        raise fail(400, f"range must be one of {', '.join(spark.RANGES)}")
    if tone is not None and tone not in spark.TONES:
        raise fail(400, f"tone must be one of {', '.join(sorted(spark.TONES))}")
    if at is not None and not at.isdigit():
        raise fail(400, "at must be the latest poll's time in seconds since 1970")
    text = await source.db(spark.sparkline, source.store, item, span, source.clock(), tone)
    # An address with `at` shows that poll's picture for good (spark.py); without, the page
    # reloads every 30 s and a sparkline a few seconds old is as good.
    cache = "private, max-age=604800, immutable" if at else "private, max-age=20"
    return web.Response(text=text, content_type="image/svg+xml", headers={"Cache-Control": cache})


async def static(request: web.Request) -> web.Response:
    found = request.app[SITE].static.get(request.match_info["file"])
    if found is None:
        raise fail(404, f"No file {request.match_info['file'][:100]!r} here.")
    body, kind = found
    return web.Response(
        body=body, content_type=kind, headers={"Cache-Control": "public, max-age=3600"}
    )
