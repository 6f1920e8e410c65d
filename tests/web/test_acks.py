"""Acknowledging from a notification's link, and silencing from the page, over HTTP.

The link is the credential: a GET shows what it acknowledges and changes nothing; only the
form's POST (with its CSRF token) acts. Forged, changed and expired links get a page that
says so and change nothing; acknowledging twice keeps the first. Silences need a
signed-in operator.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from balancewatch.acklinks import AckClaim, AckSigner
from balancewatch.config.load import parse_config
from balancewatch.model import Severity
from balancewatch.passwords import hash_password
from balancewatch.records import Acknowledgement
from balancewatch.web.data import status_data
from tests.web.harness import CONFIG, MIN, NOW, serving
from tests.web.test_login import PASSWORD, Browser, token

SECRET = "k" * 40
OLD = "o" * 40
HTTP = f"""\
http:
  listen: 127.0.0.1:0
  public_url: https://bw.example.com/
  secret: {SECRET}
  previous_secrets: [{OLD}]
  users:
    alice: '{hash_password(PASSWORD)}'
"""
EPISODE = NOW - 5 * MIN  # the harness's firing alert on shop
CLAIM = AckClaim("shop", "threshold:DZD", EPISODE, NOW + timedelta(days=7))


def ack_path(claim: AckClaim = CLAIM, secret: str = SECRET) -> str:
    return "/ack/" + AckSigner.from_secrets(secret).sign(claim)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    with serving(tmp_path, CONFIG + HTTP) as page:
        yield Browser(page)


def acknowledge(browser: Browser, path: str, name: str) -> int:
    form = browser.get(path)
    assert form.status == 200, form.body
    return browser.post(path, {"csrf": token(form), "name": name}).status


def test_opening_the_link_shows_the_alert_and_a_button_and_changes_nothing(
    browser: Browser,
) -> None:
    """What a mail scanner does (GET, even twice) acknowledges nothing."""
    for _ in range(2):
        answer = browser.get(ack_path())
        assert answer.status == 200
        assert "available 2,755.00 DZD is below 3,000.00 DZD" in answer.body
        assert '<button type="submit">acknowledge</button>' in answer.body
    assert browser.page.store.acknowledgements() == []


def test_the_button_acknowledges_and_the_page_status_and_api_say_who_and_when(
    browser: Browser,
) -> None:
    """The POST stores who (the name given) and when, at the alert's severity, then goes
    back to the link's page, which now says so, as do the overview, the account's page,
    /api/v1/status and status_data (what `status` prints)."""
    path = ack_path()
    assert acknowledge(browser, path, "  Ana   Ops ") == 303
    expected = Acknowledgement("shop", "threshold:DZD", EPISODE, Severity.CRITICAL, NOW, "Ana Ops")
    assert browser.page.store.acknowledgements() == [expected]
    shown = browser.get(path)
    assert "Acknowledged by Ana Ops at 2024-05-01 12:00:00 UTC" in shown.body
    assert "<button" not in shown.body.split("<main>")[1]
    for page in ("/", "/accounts/shop"):
        assert "acknowledged by Ana Ops at 2024-05-01 12:00:00" in browser.get(page).body
    (firing,) = browser.get("/api/v1/status").json()["firing"]
    assert firing["acknowledged"] == {"by": "Ana Ops", "at": "2024-05-01T12:00:00+00:00"}
    data = status_data(browser.page.store, ["shop"], NOW)
    assert data["firing"][0]["acknowledged"]["by"] == "Ana Ops"


def test_acknowledging_twice_keeps_the_first(browser: Browser) -> None:
    """A second click (or a second person) changes nothing and is no error."""
    path = ack_path()
    csrf = token(browser.get(path))  # two tabs open on the link
    assert browser.post(path, {"csrf": csrf, "name": "ana"}).status == 303
    browser.page.now[0] = NOW + MIN
    assert browser.post(path, {"csrf": csrf, "name": "bo"}).status == 303
    (kept,) = browser.page.store.acknowledgements()
    assert (kept.acked_by, kept.acked_at) == ("ana", NOW)


def test_a_forged_or_changed_link_is_refused_and_changes_nothing(browser: Browser) -> None:
    """A changed MAC, another account's claim under a genuine key id, a token signed with
    an unknown secret: 403 with a sentence, on GET and POST alike."""
    genuine = ack_path()
    forged = [
        genuine[:-3] + ("AAA" if not genuine.endswith("AAA") else "BBB"),
        ack_path(secret="x" * 40),
        "/ack/not-a-token",
    ]
    form = browser.get(genuine)
    for path in forged:
        shown = browser.get(path)
        assert shown.status == 403, path
        assert "This acknowledgement link is not valid" in shown.body
        assert "Nothing was changed" in shown.body
        assert browser.post(path, {"csrf": token(form), "name": "eve"}).status == 403
    assert browser.page.store.acknowledgements() == []


def test_an_expired_link_is_refused_and_changes_nothing(browser: Browser) -> None:
    """Past its expiry a genuine link gets 410, saying when it expired."""
    path = ack_path()
    form = browser.get(path)
    browser.page.now[0] = CLAIM.expires
    shown = browser.get(path)
    assert shown.status == 410
    assert "expired at 2024-05-08 12:00 UTC" in shown.body
    assert browser.post(path, {"csrf": token(form), "name": "ana"}).status == 410
    assert browser.page.store.acknowledgements() == []


def test_a_link_signed_before_a_rotation_still_acknowledges(browser: Browser) -> None:
    """Signed with the secret now listed under previous_secrets: still accepted."""
    assert acknowledge(browser, ack_path(secret=OLD), "ana") == 303
    assert len(browser.page.store.acknowledgements()) == 1


def test_the_post_without_its_csrf_token_is_refused(browser: Browser) -> None:
    """The link alone is not enough to act: the form's token must come with it."""
    path = ack_path()
    browser.get(path)
    assert browser.post(path, {"name": "ana"}).status == 403
    assert browser.post(path, {"name": "ana", "csrf": "guessed"}).status == 403
    assert browser.page.store.acknowledgements() == []


def test_a_link_to_an_episode_that_is_over_acknowledges_nothing(browser: Browser) -> None:
    """The alert fired again since (another episode): the page says so, the POST is 409."""
    path = ack_path(AckClaim("shop", "threshold:DZD", EPISODE - MIN, CLAIM.expires))
    shown = browser.get(path)
    assert shown.status == 200
    assert "no longer firing in the episode this link names" in shown.body
    assert '<form method="post" action="/ack/' not in shown.body
    csrf = token(browser.get(ack_path()))
    assert browser.post(path, {"csrf": csrf, "name": "ana"}).status == 409
    assert browser.page.store.acknowledgements() == []


# ---------------------------------------------------------------- silences from the page


def sign_in(browser: Browser) -> str:
    """Sign in as alice; the CSRF token for the account page's forms."""
    form = browser.get("/login")
    browser.post("/login", {"csrf": token(form), "user": "alice", "password": PASSWORD})
    return token(browser.get("/accounts/shop"))


def test_silencing_from_the_page_needs_a_signed_in_operator(browser: Browser) -> None:
    """Without a session: no form on the page, and the POST is refused (403)."""
    page = browser.get("/accounts/shop")
    assert 'action="/accounts/shop/silences"' not in page.body
    fields = {"csrf": token(browser.get("/login")), "duration": "2h", "reason": "deploy"}
    refused = browser.post("/accounts/shop/silences", fields)
    assert refused.status == 403
    assert "Sign in as an operator first" in refused.body
    assert browser.page.store.silences() == []


def test_an_operator_silences_and_lifts_from_the_account_page(browser: Browser) -> None:
    """The store calls of `balancewatch silence`: made for the duration from now, listed
    with a lift button, lifted now; the reason says who."""
    csrf = sign_in(browser)
    fields = {"csrf": csrf, "rule": "threshold", "duration": "2h", "reason": "deploy"}
    assert browser.post("/accounts/shop/silences", fields).status == 303
    (made,) = browser.page.store.silences(NOW)
    assert (made.account, made.rule, made.ends_at) == ("shop", "threshold", NOW + 2 * 60 * MIN)
    assert made.reason == "deploy (by alice)"
    page = browser.get("/accounts/shop")
    assert f'action="/accounts/shop/silences/{made.id}/lift"' in page.body
    browser.page.now[0] = NOW + MIN
    lift = f"/accounts/shop/silences/{made.id}/lift"
    assert browser.post(lift, {"csrf": csrf}).status == 303
    assert browser.page.store.silences(NOW + MIN) == []
    assert browser.post(lift, {"csrf": csrf}).status == 404  # already lifted


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"duration": "soon"}, "duration: write how long"),
        ({"duration": "0s"}, "duration: write how long"),
        ({"duration": "400d"}, "up to 366d"),
        ({"duration": "1h", "rule": "nonsense"}, "shop has no rule"),
    ],
)
def test_a_bad_silence_form_is_a_400_naming_the_field(
    browser: Browser, fields: dict[str, str], says: str
) -> None:
    """Nothing is stored; the page says which field is wrong."""
    csrf = sign_in(browser)
    answer = browser.post("/accounts/shop/silences", {"csrf": csrf, **fields})
    assert answer.status == 400
    assert says in answer.body
    assert browser.page.store.silences() == []


def test_no_credential_or_signing_secret_appears_on_the_new_pages(browser: Browser) -> None:
    """The canary keys of the config, and the page's own secrets, are on none of them."""
    csrf = sign_in(browser)
    path = ack_path()
    bodies = [browser.get(p).body for p in (path, "/accounts/shop", "/", "/api/v1/status")]
    browser.post(path, {"csrf": csrf, "name": "ana"})
    bodies.append(browser.get(path).body)
    for body in bodies:
        assert "canary" not in body
        assert SECRET not in body
        assert OLD not in body


def test_a_reload_rotates_the_keys_the_links_are_checked_with(tmp_path: Path) -> None:
    """The page verifies with the config in force: after a reload that makes NEW the
    secret and keeps OLD as previous, both verify; once OLD is dropped, its links are 403."""
    new = "n" * 40
    with serving(tmp_path, CONFIG + HTTP) as page:
        rotated = HTTP.replace(SECRET, new).replace(f"[{OLD}]", f"[{SECRET}]")
        page.config = parse_config(CONFIG + rotated)
        assert page.get(ack_path(secret=new)).status == 200
        assert page.get(ack_path(secret=SECRET)).status == 200
        page.config = parse_config(
            CONFIG + rotated.replace(f"  previous_secrets: [{SECRET}]\n", "")
        )
        assert page.get(ack_path(secret=SECRET)).status == 403
        assert page.get(ack_path(secret=new)).status == 200
