"""The rules of secrets (balancewatch.redaction): what is one, how long, how it is hidden.

Tables first (each kind of URL and which of its parts are secrets; texts and what is left of
them), then the properties: a secret planted anywhere in any text never survives, and a
text with no secret in it comes back as it was.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr

from balancewatch.redaction import (
    MIN_SECRET_LENGTH,
    MIN_URL_TOKEN,
    REDACTED,
    Redactor,
    hide,
    hideable,
    secret_values,
    url_secrets,
)

# ---------------------------------------------------------------- which parts of a URL

APPRISE, API = True, False


@pytest.mark.parametrize(
    ("url", "path_tokens", "hidden", "kept"),
    [
        pytest.param(
            "json://user:hook-password@hooks.example.com/path/segment-token?token=query-token",
            APPRISE,
            {"hook-password", "segment-token", "query-token"},
            {"hooks.example.com", "user", "path", "token"},
            id="apprise: password, path and query tokens; not a DNS host, short words",
        ),
        pytest.param(
            "tgram://123456789:AAH-bot-token/-1001234567",
            APPRISE,
            {"123456789:AAH-bot-token", "123456789", "AAH-bot-token", "-1001234567"},
            set(),
            id="apprise: a host that is not a DNS name is a token, whole and by its parts",
        ),
        pytest.param(
            "slack://T0000AAAA/B0000BBBB/CCCCCCCCCCCCCCCCCCCCCCCC/#ops",
            APPRISE,
            {"T0000AAAA", "B0000BBBB", "CCCCCCCCCCCCCCCCCCCCCCCC"},
            {"ops", "#ops"},
            id="apprise: slack's three tokens; the channel is a name",
        ),
        pytest.param(
            "json://localhost:8080/notify/json",
            APPRISE,
            {"json://localhost:8080/notify/json"},
            {"notify", "json", "8080", "localhost:8080", "localhost"},
            id="apprise: the whole URL always; path words under 8 characters and localhost never",
        ),
        pytest.param(
            "json://[fe80::1]:8080/hook?plaintokenvalue",
            APPRISE,
            {"plaintokenvalue"},
            {"[fe80::1]:8080", "[fe80::1]", "hook"},
            id="apprise: an IP address is no token; a query item alone is a value",
        ),
        pytest.param(
            "mailto://u:pass@example.com",
            APPRISE,
            {"pass"},
            {"u", "example.com"},
            id="apprise: a password is declared, so the common floor of 4 is enough",
        ),
        pytest.param(
            "mailto://u:p@example.com",
            APPRISE,
            set(),
            {"p"},
            id="a password under the floor is not hidden",
        ),
        pytest.param(
            "https://api.example.com/v1/balance-endpoint?key=query-secret-0123&format=json",
            API,
            {"query-secret-0123"},
            {
                "https://api.example.com/v1/balance-endpoint?key=query-secret-0123&format=json",
                "balance-endpoint",
                "api.example.com",
                "json",
                "key",
            },
            id="api: query values of 8+; not the path, the host or the URL itself",
        ),
        pytest.param(
            "http://relay:s3cret@localhost:8080/proxy-endpoint",
            API,
            {"s3cret"},
            {"localhost:8080", "localhost", "proxy-endpoint", "relay"},
            id="api: the password; a host is never a token",
        ),
        pytest.param(
            "https://api.example.com/?key=a%2Fsecret%2Bvalue&n=7",
            API,
            {"a%2Fsecret%2Bvalue", "a/secret+value"},
            {"7"},
            id="a percent-encoded value: as written and decoded",
        ),
        pytest.param(
            "https://api.example.com/?key=secret+with+plus",
            API,
            {"secret+with+plus", "secret with plus", "secret%20with%20plus"},
            set(),
            id="a '+' in a query: as written, as the space it means, and re-encoded",
        ),
        pytest.param(
            "https://api.example.com/?key=été-secret-clé",
            API,
            {"été-secret-clé", "%C3%A9t%C3%A9-secret-cl%C3%A9"},
            set(),
            id="unicode: as written and as an HTTP library prints it (UTF-8 escapes)",
        ),
        pytest.param(
            "json://[::1/token-in-a-broken-url",
            APPRISE,
            {"json://[::1/token-in-a-broken-url"},
            set(),
            id="apprise: a URL that cannot be split is hidden whole",
        ),
    ],
)
def test_url_secrets_hide_the_parts_that_carry_credentials(
    url: str, path_tokens: bool, hidden: set[str], kept: set[str]
) -> None:
    """Declared parts (a password) from the common floor; guessed parts (query values; for
    Apprise, path segments and a non-DNS host) from 8 characters; for Apprise the URL too."""
    found = url_secrets(url, path_tokens=path_tokens)
    assert hidden <= found
    assert not kept & found


def test_an_api_url_that_cannot_be_split_has_no_secrets_to_offer() -> None:
    """Not the whole URL: an API URL is shown in messages, and validation refuses it anyway."""
    assert url_secrets("https://[::1/x?key=query-secret-0123", path_tokens=False) == set()


def test_guessed_url_parts_are_tokens_only_from_eight_characters() -> None:
    """A query value or path segment of 7 characters is a word; of 8, a token."""
    assert MIN_URL_TOKEN == 8
    url = "json://host.example.com/abcdefg/abcdefgh?a=1234567&b=12345678"
    found = url_secrets(url, path_tokens=True)
    assert {"abcdefgh", "12345678"} <= found
    assert not {"abcdefg", "1234567"} & found


# ---------------------------------------------------------------- what is left of a text


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        pytest.param("HTTP 401 for key-0123", ["key-0123"], "HTTP 401 for ***", id="one"),
        pytest.param(
            "USD 401 in 5m", ["USD", "401", "5m", ""], "USD 401 in 5m", id="short values kept"
        ),
        pytest.param(
            "x abcdefgh y", ["abcd", "abcdefgh"], "x *** y", id="a secret containing another"
        ),
        pytest.param(
            "x abcdefgh y", ["cdef", "abcdefgh"], "x *** y", id="another inside, not at start"
        ),
        pytest.param(
            "x abcdefghijk y",
            ["abcdefgh", "defghijk"],
            "x *** y",
            id="overlapping secrets hidden as one",
        ),
        pytest.param(
            "k=SECRETKEY&again=SECRETKEY SECRETKEYSECRETKEY",
            ["SECRETKEY"],
            "k=***&again=*** ******",
            id="every occurrence, adjacent ones too",
        ),
        pytest.param(
            "SECRETKEY at the start and the end SECRETKEY",
            ["SECRETKEY"],
            "*** at the start and the end ***",
            id="at both ends",
        ),
        pytest.param(
            "first line token-aaaa\nsecond line token-aaaa\n",
            ["token-aaaa"],
            "first line ***\nsecond line ***\n",
            id="multi-line text",
        ),
        pytest.param(
            "-----BEGIN KEY-----\nMIIBkey\n-----END KEY-----\nthen more",
            ["-----BEGIN KEY-----\nMIIBkey\n-----END KEY-----"],
            "***\nthen more",
            id="a secret of several lines (file: or credential:)",
        ),
        pytest.param(
            "ключ=пароль-секрет; clé=été-secret🔑",
            ["пароль-секрет", "été-secret🔑"],
            "ключ=***; clé=***",
            id="unicode",
        ),
        pytest.param(
            "no secret here", ["canary-0123"], "no secret here", id="text without secrets"
        ),
    ],
)
def test_hide_replaces_every_secret_and_nothing_else(
    text: str, secrets: list[str], expected: str
) -> None:
    """Left to right, the longest secret at each position; overlaps merge; short values stay."""
    assert hide(text, secrets) == expected
    assert Redactor(secrets).hide(text) == expected


def test_a_secret_split_by_url_quoting_is_hidden_in_every_spelling() -> None:
    """A query value written encoded in the config is hidden where a log shows it decoded,
    and where it shows it as written."""
    url = "https://api.example.com/v1?key=a%2Fsecret%2Bvalue"
    secrets = url_secrets(url, path_tokens=False)
    line = f"GET {url} failed; server: a/secret+value"
    assert hide(line, secrets) == "GET https://api.example.com/v1?key=*** failed; server: ***"


def test_text_without_secrets_is_returned_as_the_same_object() -> None:
    """The common case costs no copy: log lines without secrets pass untouched."""
    text = "poll account=shop ok=True ms=12.5"
    assert Redactor(["canary-0123"]).hide(text) is text


def test_one_floor_for_every_secret() -> None:
    """Values under 4 characters are never hidden (they would cut words out of every line)."""
    assert MIN_SECRET_LENGTH == 4
    assert hideable(["abc", "abcd"], [""], ["token-0123"]) == {"abcd", "token-0123"}
    assert hide("abc abcd", ["abc", "abcd"]) == "abc ***"


def test_redactor_finds_secrets_among_thousands() -> None:
    """With one secret per account at 10,000 accounts, each is still found wherever it is."""
    secrets = [f"key-{i:05d}-{i * 7919 % 100000:05d}" for i in range(10_000)]
    redactor = Redactor(secrets)
    line = f"HTTP 401 for {secrets[4321]}; url=https://x/?k={secrets[9999]}&z=1 {secrets[0]}"
    assert redactor.hide(line) == "HTTP 401 for ***; url=https://x/?k=***&z=1 ***"
    assert redactor.hide("nothing secret here") == "nothing secret here"


def test_redactor_update_replaces_what_it_hides() -> None:
    """A reload's secrets replace the old ones: a secret dropped from the config is no
    longer hidden, a new one is."""
    redactor = Redactor(["old-secret-0123"])
    redactor.update(["new-secret-0123"])
    assert redactor.hide("old-secret-0123 new-secret-0123") == "old-secret-0123 ***"


def test_redactor_as_a_log_processor_hides_nested_values_and_exceptions() -> None:
    """Every string of an event: nested in dicts, lists and tuples, and exception text;
    other values are left as they are."""
    redactor = Redactor(["canary-0123"])
    event: dict[str, Any] = {
        "event": "poll canary-0123",
        "nested": {"list": ["canary-0123", 7], "tuple": ("x canary-0123",)},
        "error": ValueError("bad key canary-0123"),
        "ms": 12.5,
    }
    assert redactor(None, "info", event) == {
        "event": "poll ***",
        "nested": {"list": ["***", 7], "tuple": ("x ***",)},
        "error": "ValueError: bad key ***",
        "ms": 12.5,
    }


def test_a_redactor_without_secrets_passes_events_through() -> None:
    """Before a config is loaded, events are not copied."""
    event = {"event": "start"}
    assert Redactor()(None, "info", event) is event


# ---------------------------------------------------------------- secrets of models


class _Notifier(BaseModel):
    urls: list[str]
    password: SecretStr | None = None


class _Account(BaseModel):
    api_key: SecretStr
    headers: dict[str, SecretStr] = {}
    notifiers: list[_Notifier] = []
    name: str = "plain-name-0123"


def test_secret_values_are_every_secretstr_inside_models_mappings_and_lists() -> None:
    """SecretStr at any depth; plain strings, even long ones, are not secrets."""
    account = _Account(
        api_key=SecretStr("key-0123"),
        headers={"X-Token": SecretStr("header-0123")},
        notifiers=[_Notifier(urls=["json://x"], password=SecretStr("pw-0123"))],
    )
    found = secret_values({"accounts": [account], "other": (None, "plain")})
    assert found == {"key-0123", "header-0123", "pw-0123"}


# ---------------------------------------------------------------- properties

# The mask itself (***) is left out: masking around a secret made of asterisks could spell
# it again, and no credential is one (see the module's docstring).
SECRETS = st.text(min_size=MIN_SECRET_LENGTH, max_size=40).filter(lambda s: "*" not in s)


@given(
    before=st.text(max_size=60),
    after=st.text(max_size=60),
    planted=st.lists(SECRETS, min_size=1, max_size=4),
    others=st.lists(SECRETS, max_size=4),
)
@example(before="ab", after="gh", planted=["cdef", "abcd"], others=["efgh"])
@example(before="x\n", after="\ny", planted=["line one\nline two"], others=[])
def test_a_planted_secret_never_survives(
    before: str, after: str, planted: list[str], others: list[str]
) -> None:
    """Whatever the text around them and whatever other secrets are known, no planted
    secret is left in the output, whole."""
    text = before + "".join(planted) + after + planted[0]
    hidden = hide(text, [*planted, *others])
    for secret in planted + others:
        assert secret not in hidden


@given(text=st.text(max_size=200), secrets=st.lists(SECRETS, max_size=6))
def test_text_without_secrets_is_returned_unchanged(text: str, secrets: list[str]) -> None:
    """A text in which none of the secrets occurs comes back exactly as it was."""
    absent = [s for s in secrets if s not in text]
    assert hide(text, absent) == text


def test_the_mask_is_three_asterisks() -> None:
    """What a reader of the logs sees where a secret was."""
    assert REDACTED == "***"
    assert hide("a token-0123 b", ["token-0123"]) == f"a {REDACTED} b"
