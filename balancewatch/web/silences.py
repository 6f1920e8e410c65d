"""Silences made and lifted from an account's page, by a signed-in operator.

The same store calls as ``balancewatch silence`` (``add_silence``, ``lift_silence``), with
the same check of the rule; the daemon picks them up the same way (at most
``SILENCE_REFRESH`` later). The reason is stored with the operator's name after it, so
the page and ``status`` say who silenced. Every POST is CSRF-checked; a bad field is a
400 page naming it; success goes back to the account's page.
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from balancewatch.units import parse_duration
from balancewatch.web.account import silence_rules
from balancewatch.web.app import SOURCE, fail, log, user_of
from balancewatch.web.login import operator_only
from balancewatch.web.pages import find_account

LONGEST = timedelta(days=366)
MAX_REASON = 200


def add_routes(app: web.Application) -> None:
    app.router.add_post("/accounts/{name}/silences", operator_only(make_silence))
    app.router.add_post("/accounts/{name}/silences/{id}/lift", operator_only(lift_silence))


async def make_silence(request: web.Request) -> web.StreamResponse:
    source = request.app[SOURCE]
    account = find_account(request)
    form = await request.post()
    rule = str(form.get("rule", "")).strip() or None
    if rule is not None and rule not in silence_rules(account):
        raise fail(400, f"rule: {account.name} has no rule {rule[:40]!r} to silence.")
    text = str(form.get("duration", "")).strip()
    try:
        duration = parse_duration(text)
    except ValueError:
        duration = timedelta(0)
    if not timedelta(0) < duration <= LONGEST:
        raise fail(
            400, f"duration: write how long, e.g. 30m, 2h or 3d (up to 366d), not {text[:20]!r}."
        )
    user = user_of(request) or ""
    reason = " ".join(str(form.get("reason", "")).split())[:MAX_REASON]
    reason = f"{reason} (by {user})" if reason else f"by {user}"
    now = source.clock()
    made = await source.db(
        source.store.add_silence, account.name, rule, now, now + duration, reason
    )
    log.info("silence_made", account=account.name, rule=rule, id=made.id, by=user)
    raise web.HTTPSeeOther(f"/accounts/{account.name}")


async def lift_silence(request: web.Request) -> web.StreamResponse:
    source = request.app[SOURCE]
    account = find_account(request)
    text = request.match_info["id"]
    if not text.isdigit() or len(text) > 18:
        raise fail(404, f"No silence #{text[:20]}.")
    now = source.clock()
    stored = await source.db(source.store.silences)
    if not any(
        s.id == int(text) and s.account in (account.name, "*") and s.ends_at > now for s in stored
    ):
        raise fail(404, f"No active silence #{text} on {account.name}.")
    await source.db(source.store.lift_silence, int(text), now)
    log.info("silence_lifted", account=account.name, id=int(text), by=user_of(request))
    raise web.HTTPSeeOther(f"/accounts/{account.name}")
