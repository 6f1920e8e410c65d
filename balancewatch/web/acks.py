"""``/ack/<token>``: acknowledging an alert from the link in its notification.

The link is the credential (:mod:`balancewatch.acklinks`): whoever received the
notification may acknowledge that alert's episode, no sign-in needed. A GET only shows
what would be acknowledged, with a button: mail scanners and link previews open links, and
must not act. The POST (CSRF-checked like every POST) tells the daemon (it applies from
its next poll) and stores the acknowledgement, then sends the browser back to the GET,
which says who acknowledged it and when.

A forged or changed link is a 403, an expired one a 410; an alert that has resolved or
started a new episode since is a 409 on the POST. None of them changes anything.
Acknowledging again while an acknowledgement holds keeps the first one.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from balancewatch.acklinks import AckClaim, BadLink, ExpiredLink
from balancewatch.records import Acknowledgement, AlertState
from balancewatch.state import Store
from balancewatch.web.app import SITE, SOURCE, fail, log, render, user_of

MAX_NAME = 60


def add_routes(app: web.Application) -> None:
    app.router.add_get("/ack/{token}", ack_form)
    app.router.add_post("/ack/{token}", acknowledge)


@dataclass(frozen=True)
class Target:
    """The alert a link names, as it is now."""

    claim: AckClaim
    state: AlertState | None
    ack: Acknowledgement | None
    """The acknowledgement that holds for it, if any."""

    @property
    def current(self) -> bool:
        """The episode the link names is still firing."""
        state = self.state
        return (
            state is not None
            and state.status == "firing"
            and state.started_at == self.claim.episode
        )


def look(store: Store, claim: AckClaim) -> Target:
    """Run on the database thread: the alert and its acknowledgement."""
    state = store.alert_states(claim.account).get(claim.alert_key)
    held = [
        ack
        for ack in store.acknowledgements(claim.account)
        if ack.alert_key == claim.alert_key and state is not None and ack.holds(state)
    ]
    return Target(claim, state, held[0] if held else None)


def _claim(request: web.Request) -> AckClaim:
    """The verified claim of the request's token, or an error page that changes nothing."""
    source = request.app[SOURCE]
    http = source.config().http or request.app[SITE].settings
    signer = http.ack_signer()
    if signer is None:
        raise fail(404, "Acknowledgement links are off here (http: secret is not set).")
    try:
        return signer.verify(request.match_info["token"], source.clock())
    except ExpiredLink as error:
        raise fail(
            410,
            f"This acknowledgement link has expired: {error}. Nothing was changed; the "
            "alert's next notification carries a fresh link.",
        ) from None
    except BadLink as error:
        log.warning("ack_link_refused", remote=request.remote, reason=str(error))
        raise fail(
            403, f"This acknowledgement link is not valid: {error}. Nothing was changed."
        ) from None


async def ack_form(request: web.Request) -> web.Response:
    """What the link acknowledges, and a button; changes nothing."""
    source = request.app[SOURCE]
    target = await source.db(look, source.store, _claim(request))
    return render(request, "ack.html", t=target, name=user_of(request) or "", max_name=MAX_NAME)


async def acknowledge(request: web.Request) -> web.StreamResponse:
    source = request.app[SOURCE]
    claim = _claim(request)
    target = await source.db(look, source.store, claim)
    if not target.current or target.state is None:
        raise fail(
            409,
            "This alert is no longer firing in the episode the link names (it resolved, "
            "or fired again since): there is nothing to acknowledge, nothing was changed.",
        )
    if target.ack is None:
        form = await request.post()
        name = " ".join(str(form.get("name", "")).split())[:MAX_NAME] or user_of(request) or ""
        ack = Acknowledgement(
            claim.account,
            claim.alert_key,
            claim.episode,
            target.state.severity,
            source.clock(),
            name,
        )
        # The daemon first: a poll deciding while this is written must not send a reminder.
        source.acknowledged(ack)
        try:
            await source.db(source.store.acknowledge, ack)
        except BaseException:
            source.withdrawn(ack)
            raise
        log.info("alert_acknowledged", account=ack.account, alert=ack.alert_key, by=name)
    raise web.HTTPSeeOther(request.path)
