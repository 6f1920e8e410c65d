"""Operator sign-in and the CSRF check every POST goes through (the framework the page's
actions will use): forms need their token, wrong passwords get one sentence, a session
opens what ``operator_only`` guards."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from aiohttp import web

from balancewatch.passwords import hash_password
from balancewatch.web.login import operator_only
from tests.web.harness import CONFIG, Answer, Page, serving

PASSWORD = "a long operator password"
HTTP = f"http:\n  listen: 127.0.0.1:0\n  users:\n    alice: '{hash_password(PASSWORD)}'\n"


async def act(request: web.Request) -> web.Response:
    return web.Response(text="acted")


def routes(app: web.Application) -> None:
    """An action of the kind phase 2 adds, guarded as those will be."""
    app.router.add_post("/act", operator_only(act))
    app.router.add_get("/act", operator_only(act))


class Browser:
    """Cookies kept between requests, as a browser keeps them."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.cookies: dict[str, str] = {}

    def _keep(self, answer: Answer) -> Answer:
        for header in answer.headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or "1970" in morsel["expires"]:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return answer

    def _headers(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}

    def get(self, path: str) -> Answer:
        return self._keep(self.page.get(path, headers=self._headers()))

    def post(self, path: str, fields: dict[str, str]) -> Answer:
        headers = {**self._headers(), "Content-Type": "application/x-www-form-urlencoded"}
        data = urlencode(fields).encode()
        return self._keep(self.page.request("POST", path, data=data, headers=headers))


def token(answer: Answer) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', answer.body)
    assert found, answer.body
    return found.group(1)


@pytest.fixture
def browser(tmp_path: Path):  # type: ignore[no-untyped-def]
    with serving(tmp_path, CONFIG + HTTP, routes=routes) as page:
        yield Browser(page)


def test_an_operator_signs_in_and_out(browser: Browser) -> None:
    """The form's token and the right password: a session cookie, back where one came from,
    named on the page; signing out ends it."""
    form = browser.get("/login?next=/accounts/shop")
    assert form.status == 200
    signed = browser.post(
        "/login",
        {"csrf": token(form), "user": "alice", "password": PASSWORD, "next": "/accounts/shop"},
    )
    assert (signed.status, signed.headers["Location"]) == (303, "/accounts/shop")
    assert "bw_session" in browser.cookies
    home = browser.get("/")
    assert "signed in as alice" in home.body
    out = browser.post("/logout", {"csrf": token(home)})
    assert out.status == 303
    assert "bw_session" not in browser.cookies
    assert "signed in as" not in browser.get("/").body


def test_a_wrong_password_or_user_gets_one_sentence_and_no_session(browser: Browser) -> None:
    """Unknown user and wrong password read the same; the password is not echoed."""
    form = browser.get("/login")
    for user, password in (("alice", "wrong password!"), ("mallory", PASSWORD)):
        answer = browser.post("/login", {"csrf": token(form), "user": user, "password": password})
        assert answer.status == 401
        assert "Wrong user name or password." in answer.body
        assert password not in answer.body
    assert "bw_session" not in browser.cookies


def test_a_post_without_its_token_changes_nothing(browser: Browser) -> None:
    """No token, a token of another cookie, or no cookie: 403 and no session."""
    form = browser.get("/login")
    good = token(form)
    fields = {"user": "alice", "password": PASSWORD}
    assert browser.post("/login", fields).status == 403
    assert browser.post("/login", {**fields, "csrf": good[:-2] + "xx"}).status == 403
    browser.cookies.clear()
    refused = browser.post("/login", {**fields, "csrf": good})
    assert refused.status == 403
    assert "This form has expired or did not come from this page" in refused.body
    assert "bw_session" not in browser.cookies


def test_an_action_needs_a_signed_in_operator(browser: Browser) -> None:
    """A guarded GET sends a reader to sign in; a guarded POST refuses one; an operator
    gets through, with the form's token."""
    first = browser.get("/act")
    assert (first.status, first.headers["Location"]) == (303, "/login?next=/act")
    form = browser.get("/login")
    assert browser.post("/act", {"csrf": token(form)}).status == 403
    browser.post("/login", {"csrf": token(form), "user": "alice", "password": PASSWORD})
    assert browser.post("/act", {"csrf": token(form)}).body == "acted"
    assert browser.post("/act", {}).status == 403  # signed in, yet no token


def test_after_sign_in_only_a_path_of_this_site_is_followed(browser: Browser) -> None:
    """`next=//evil.example` or a full URL lands on / instead."""
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil"):
        form = browser.get("/login")
        answer = browser.post(
            "/login", {"csrf": token(form), "user": "alice", "password": PASSWORD, "next": target}
        )
        assert answer.headers["Location"] == "/"


def test_without_operators_nobody_signs_in(tmp_path: Path) -> None:
    """No `users:`: /login says so, and the page offers no sign-in."""
    with serving(tmp_path) as page:
        login = page.get("/login")
        home = page.get("/")
    assert login.status == 404
    assert "No operators are configured" in login.body
    assert "sign in" not in home.body
