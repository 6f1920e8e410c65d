"""The page's web application (aiohttp's server) and its lifetime on the daemon's loop.

The daemon builds a :class:`Source` (what the page may read, and how) and runs a
:class:`WebServer` on its own event loop, at ``http: {listen: ...}``: the pages, the JSON
API, ``/metrics`` and ``/healthz`` on one port. Every answer goes through two
middlewares: one that turns every error into a page (or JSON under ``/api/``) with its
status and a sentence, never a traceback, and one that adds the security headers and
refuses a POST without its CSRF token.

Store reads run on the daemon's database thread (``Source.db``), each page's reads in one
call: the loop never waits for SQLite, and the polls' commits queue behind at most one
page's reads.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import jinja2
import structlog
from aiohttp import web

from balancewatch import __version__
from balancewatch.config.http import HttpSettings
from balancewatch.config.load import Config
from balancewatch.poll.plan import AccountPlan
from balancewatch.records import Acknowledgement
from balancewatch.state import Store
from balancewatch.web import security
from balancewatch.web.listing import Listing, listing
from balancewatch.web.security import CSRF_COOKIE, CSRF_FIELD, HEADERS, SESSION_COOKIE, Signer
from balancewatch.web.spark import Runways

log = structlog.get_logger("balancewatch.web")

DbCall = Callable[..., Awaitable[Any]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
EXPIRED_FORM = (
    "This form has expired or did not come from this page: reload the page and try again."
)
MAX_BODY = 16 * 1024
"""A form is a few fields; nothing bigger is read."""
SOURCE: web.AppKey[Source] = web.AppKey("source")
SITE: web.AppKey[Site] = web.AppKey("site")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Source:
    """What the daemon hands the page (it imports nothing of the daemon's).

    ``db(call, *args)`` runs ``call(*args)`` on the daemon's database thread; ``config()``
    is the config in force (a reload swaps it); ``health()`` lists what is unhealthy;
    ``metrics()`` renders Prometheus' text (None: no metrics); ``plans()`` are the accounts
    the daemon polls (None: the page plans the config's accounts itself).
    """

    store: Store
    db: DbCall
    config: Callable[[], Config]
    health: Callable[[], list[str]]
    metrics: Callable[[], bytes] | None = None
    metrics_type: str = "text/plain; version=0.0.4; charset=utf-8"
    clock: Callable[[], datetime] = utcnow
    acknowledged: Callable[[Acknowledgement], None] = lambda ack: None
    """Told of an acknowledgement about to be stored (the daemon applies it from its next
    poll; another process reads it from the store)."""
    withdrawn: Callable[[Acknowledgement], None] = lambda ack: None
    """Told that it could not be stored after all."""
    plans: Callable[[], Mapping[str, AccountPlan]] | None = None

    def listing(self) -> Listing:
        """Every account the page shows, by name (once per config)."""
        return listing(self.config(), None if self.plans is None else self.plans())


@dataclass
class Site:
    """The page's own state: templates, static files, the signing key, who may sign in."""

    settings: HttpSettings
    signer: Signer
    templates: jinja2.Environment
    static: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    logins: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    """At most two scrypt checks at once: guessing cannot take the machine's CPU."""
    runways: Runways = field(default_factory=Runways)

    @property
    def users(self) -> dict[str, str]:
        return {n: h.get_secret_value() for n, h in self.settings.users.items()}

    @property
    def secure_cookies(self) -> bool:
        return (self.settings.public_url or "").startswith("https://")


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("balancewatch.web", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals["version"] = __version__
    env.filters["when"] = _when
    return env


def _when(at: datetime | None) -> str:
    return "" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _static() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("balancewatch.web") / "static"
    types = {".css": "text/css", ".svg": "image/svg+xml"}
    return {
        item.name: (item.read_bytes(), types[item.name[item.name.rfind(".") :]])
        for item in folder.iterdir()
        if item.name[item.name.rfind(".") :] in types
    }


def make_app(source: Source, settings: HttpSettings) -> web.Application:
    from balancewatch.web import acks, api, pages, silences
    from balancewatch.web import login as signin

    secret = settings.secret.get_secret_value() if settings.secret else None
    app = web.Application(middlewares=[_errors, _guard], client_max_size=MAX_BODY)
    app[SOURCE] = source
    app[SITE] = Site(settings, Signer.from_secret(secret), _templates(), _static())
    pages.add_routes(app)
    api.add_routes(app)
    signin.add_routes(app)
    acks.add_routes(app)
    silences.add_routes(app)
    return app


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """A page from its template, with what every page shows (who is signed in, the CSRF
    token for its forms)."""
    site = request.app[SITE]
    cookie = request.cookies.get(CSRF_COOKIE)
    fresh = not cookie
    if not cookie:
        cookie = Signer.new_csrf_cookie()
    text = site.templates.get_template(template).render(
        user=user_of(request),
        logins=bool(site.users),
        csrf_field=CSRF_FIELD,
        csrf=site.signer.csrf_token(cookie),
        path=request.path_qs,
        **context,
    )
    response = web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
    if fresh:
        response.set_cookie(
            CSRF_COOKIE, cookie, httponly=True, samesite="Strict", secure=site.secure_cookies
        )
    return response


def user_of(request: web.Request) -> str | None:
    """The operator signed in on this request (None: a reader)."""
    site = request.app[SITE]
    return site.signer.session_user(request.cookies.get(SESSION_COOKIE), site.users)


def fail(status: int, message: str) -> web.HTTPException:
    """An error the page shows as it is: its status and one sentence."""
    error = web.HTTPException(text=message)
    error.set_status(status)
    return error


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers; CSRF on every POST (errors: :func:`_errors`)."""
    site = request.app[SITE]
    if request.method == "POST":
        form = await request.post()
        token = form.get(CSRF_FIELD)
        if not site.signer.csrf_ok(
            request.cookies.get(CSRF_COOKIE), token if isinstance(token, str) else None
        ):
            raise fail(403, EXPIRED_FORM)
    response = await handler(request)
    response.headers.update(HEADERS)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure as a page with a sentence (JSON under /api/), never a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        message = error.text or error.reason
        if error.status == 404 and error.text in (None, "404: Not Found"):
            message = f"Nothing here: {request.path[:200]}. The pages are / and /accounts/<name>."
        elif error.status == 405:
            message = f"{request.method} is not accepted at {request.path[:200]}."
        return _error_page(request, error.status, message or "error")
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("web_error", path=request.path[:200])
        return _error_page(request, 500, "Something went wrong on this page; the log says what.")


def _error_page(request: web.Request, status: int, message: str) -> web.Response:
    if request.path.startswith("/api/"):
        return web.Response(
            text=json.dumps({"error": message}) + "\n",
            status=status,
            content_type="application/json",
            headers={**HEADERS, "Cache-Control": "no-store"},
        )
    response = render(request, "error.html", status=status, status_code=status, message=message)
    response.headers.update(HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


class WebServer:
    """The application served on the running loop at ``settings.listen``."""

    def __init__(self, source: Source, settings: HttpSettings) -> None:
        self.settings = settings
        self.app = make_app(source, settings)
        self._runner: web.AppRunner | None = None
        self.port = settings.port

    async def start(self) -> int:
        """Listen; returns the port (the one the system chose for port 0)."""
        # No access log: scrapes every 15 s would flood the journal, and a page's address
        # may one day carry a token.
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.port

    @property
    def address(self) -> str:
        host = self.settings.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}/"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


__all__ = [
    "SITE",
    "SOURCE",
    "Source",
    "WebServer",
    "fail",
    "make_app",
    "render",
    "security",
    "user_of",
]
