"""Passwords, sessions and CSRF tokens: the rules the page's login and forms stand on."""

from __future__ import annotations

import pytest

from balancewatch.config.load import Config, parse_config
from balancewatch.model import ConfigError
from balancewatch.passwords import check_password, hash_password, hash_problem
from balancewatch.web.security import CSP, HEADERS, SESSION_TTL, Signer

HASH = hash_password("correct horse battery")
ACCOUNT = """
accounts:
  - name: shop
    provider: oneclickdz
    api_key: shop-key-123456
"""


def config_with(http: str) -> Config:
    return parse_config(ACCOUNT + http)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_password_matches_its_hash_only() -> None:
    """The right password passes; another, or a damaged hash, does not; salts differ."""
    assert check_password("correct horse battery", HASH)
    assert not check_password("correct horse batterY", HASH)
    assert not check_password("correct horse battery", HASH[:-4] + "AAAA")
    assert not check_password("anything", "not a hash")
    assert hash_password("same") != hash_password("same")


def test_a_hash_in_the_config_is_checked_and_a_plain_password_refused() -> None:
    """`users:` takes hashes; a password written there instead is refused, naming the user
    and not repeating the password."""
    assert hash_problem(HASH) is None
    config = config_with(f"http:\n  users:\n    alice: '{HASH}'\n")
    assert config.http is not None
    assert set(config.http.users) == {"alice"}
    with pytest.raises(ConfigError) as error:
        config_with("http:\n  users:\n    alice: hunter2hunter2\n")
    text = "\n".join(error.value.problems)
    assert "alice" in text
    assert "python -m balancewatch.passwords" in text
    assert "hunter2hunter2" not in text


def test_the_secret_must_be_long_and_stays_secret() -> None:
    """A short signing secret is refused; a good one is a secret the logs redact."""
    with pytest.raises(ConfigError, match="at least 32"):
        config_with("http:\n  secret: short\n")
    secret = "s" * 40
    config = config_with(f"http:\n  secret: {secret}\n  public_url: https://bw.example.com/\n")
    assert config.http is not None
    assert secret in config.secrets
    assert config.http.public_url == "https://bw.example.com"
    with pytest.raises(ConfigError, match="page's address"):
        config_with("http:\n  public_url: ftp://x\n")


def test_previous_secrets_are_long_secrets_and_need_a_current_one() -> None:
    """Rotation: old secrets are held to the same length, are redacted like the current
    one, and make no sense without it."""
    old, new = "o" * 40, "n" * 40
    config = config_with(f"http:\n  secret: {new}\n  previous_secrets: [{old}]\n")
    assert config.http is not None
    assert {old, new} <= config.secrets
    assert config.http.ack_links_valid_for.days == 7
    with pytest.raises(ConfigError, match="at least 32"):
        config_with(f"http:\n  secret: {new}\n  previous_secrets: [short]\n")
    with pytest.raises(ConfigError, match="set secret too"):
        config_with(f"http:\n  previous_secrets: [{old}]\n")


def test_port_zero_takes_any_free_port() -> None:
    """`listen: 127.0.0.1:0` is accepted (tests and the demo use it)."""
    config = config_with("http:\n  listen: 127.0.0.1:0\n")
    assert config.http is not None
    assert config.http.port == 0


def test_a_session_names_its_user_until_it_expires() -> None:
    """A fresh session is the user's; after its lifetime it is nobody's."""
    clock = Clock()
    signer = Signer(b"k" * 32, clock)
    cookie = signer.session("alice", HASH)
    assert signer.session_user(cookie, {"alice": HASH}) == "alice"
    clock.now += SESSION_TTL + 1
    assert signer.session_user(cookie, {"alice": HASH}) is None


def test_a_session_is_void_when_forged_moved_or_the_password_changed() -> None:
    """Another key, another user name, a new password hash or a removed user: nobody."""
    clock = Clock()
    signer = Signer(b"k" * 32, clock)
    cookie = signer.session("alice", HASH)
    assert Signer(b"x" * 32, clock).session_user(cookie, {"alice": HASH}) is None
    assert signer.session_user(cookie.replace("YWxpY2U", "Ym9i"), {"bob": HASH}) is None
    assert signer.session_user(cookie, {"alice": hash_password("new one!!")}) is None
    assert signer.session_user(cookie, {}) is None
    assert signer.session_user("garbage", {"alice": HASH}) is None
    assert signer.session_user(None, {"alice": HASH}) is None


def test_csrf_token_is_bound_to_the_browsers_cookie() -> None:
    """The token of one cookie does not pass with another, nor with none."""
    signer = Signer.from_secret("x" * 40)
    cookie = signer.new_csrf_cookie()
    token = signer.csrf_token(cookie)
    assert signer.csrf_ok(cookie, token)
    assert not signer.csrf_ok(signer.new_csrf_cookie(), token)
    assert not signer.csrf_ok(cookie, None)
    assert not signer.csrf_ok(None, token)
    assert Signer.from_secret("x" * 40).csrf_ok(cookie, token)  # same secret: after a restart


def test_the_policy_allows_no_script_and_no_framing() -> None:
    """CSP: nothing by default, styles and images from the page only, never in a frame."""
    assert "default-src 'none'" in CSP
    assert "script-src" not in CSP
    assert "frame-ancestors 'none'" in CSP
    assert "'unsafe-inline'" not in CSP
    assert HEADERS["X-Content-Type-Options"] == "nosniff"
    assert HEADERS["Referrer-Policy"] == "no-referrer"
