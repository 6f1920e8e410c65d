"""Operator sign-in: ``/login`` and ``/logout``, and :func:`operator_only` for actions.

Reading the page needs no sign-in (it is read-only, and ``listen`` is loopback unless
changed). Acting on it (acknowledging, silencing: a later change) needs an operator: a
user of ``http: {users: ...}`` signed in here, or a signed link. A failed sign-in says
only "wrong user name or password", takes as long for an unknown user as for a wrong
password, and is logged with the user name, never the password.
"""

from __future__ import annotations

import asyncio
import functools

from aiohttp import web

from balancewatch.passwords import check_password, dummy_hash
from balancewatch.web.app import SITE, Handler, fail, log, render, user_of
from balancewatch.web.security import SESSION_COOKIE, SESSION_TTL

WRONG = "Wrong user name or password."


def add_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)


def _next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never ``//host``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target[:500]


async def login_form(request: web.Request) -> web.Response:
    site = request.app[SITE]
    if not site.users:
        raise fail(404, "No operators are configured (http: users:), so nobody signs in.")
    return render(request, "login.html", next=_next(request.query.get("next")), error=None)


async def login(request: web.Request) -> web.StreamResponse:
    site = request.app[SITE]
    if not site.users:
        raise fail(404, "No operators are configured (http: users:), so nobody signs in.")
    form = await request.post()
    user, password = str(form.get("user", ""))[:100], str(form.get("password", ""))
    target = _next(str(form.get("next", "")))
    stored = site.users.get(user)
    async with site.logins:
        good = await asyncio.to_thread(check_password, password, stored or dummy_hash())
    if not good or stored is None:
        log.warning("login_failed", user=user, remote=request.remote)
        return render(request, "login.html", status=401, next=target, error=WRONG)
    log.info("login", user=user, remote=request.remote)
    response = _see_other(target)
    response.set_cookie(
        SESSION_COOKIE,
        site.signer.session(user, stored),
        max_age=SESSION_TTL,
        httponly=True,
        samesite="Strict",
        secure=site.secure_cookies,
    )
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    response = _see_other("/")
    response.del_cookie(SESSION_COOKIE)
    return response


def _see_other(target: str) -> web.Response:
    return web.Response(status=303, headers={"Location": target})


def operator_only(handler: Handler) -> Handler:
    """Wrap an action's handler: an operator must be signed in (the CSRF check is every
    POST's). A GET is sent to sign in first and comes back; a POST is refused."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        if user_of(request) is None:
            if request.method == "GET":
                raise web.HTTPSeeOther(f"/login?next={request.path_qs}")
            raise fail(403, "Sign in as an operator first (/login).")
        return await handler(request)

    return guarded
