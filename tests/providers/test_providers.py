"""Each provider, against the simulator over real sockets, reads balances as documented.

The wire formats are ``shared/providers/README.md``; the mapping to the four kinds is
DESIGN.md §2-§3. Amounts are compared as exact Decimals (and, where the scale carries
meaning, as their text): a float never touches money.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from balancewatch.config.load import parse_config
from balancewatch.model import (
    AuthError,
    Balance,
    ConfigError,
    MalformedResponse,
    ProviderError,
    RateLimited,
    Snapshot,
    TransientError,
)
from balancewatch.providers import make_client
from balancewatch.providers.http_json import HttpJsonSettings
from balancewatch.providers.oneclickdz import OneClickDz
from balancewatch.providers.sunor import Sunor
from balancewatch.providers.thedex import sign
from balancewatch.sim.server import SimServer
from tests.conftest import (
    KEYS,
    NOW,
    THEDEX_SECRET,
    Reply,
    ScriptedServer,
    fetch_once,
    make_provider,
)

Poll = Callable[..., Snapshot]
ProviderFor = Callable[..., Any]


def kinds(balance: Balance) -> tuple[str | None, ...]:
    """The four kinds as text, so that the scale the provider sent is checked too."""
    return tuple(
        None if v is None else str(v)
        for v in (balance.available, balance.pending, balance.held, balance.total)
    )


def assert_exact(balance: Balance) -> None:
    for value in (balance.available, balance.pending, balance.held, balance.total):
        assert value is None or (type(value) is Decimal and value.is_finite())


# ---------------------------------------------------------------- Dhmad


def test_dhmad_maps_available_pending_escrow_and_derives_the_total(
    provider_for: ProviderFor, poll: Poll
) -> None:
    """`{"balance": {"available", "pending", "escrow"}}`: escrow is `held`; Dhmad sends no
    total, so it is the sum of the three, exactly (1500.50 + 200.00 + 500.25)."""
    snapshot = poll(provider_for("dhmad"))

    assert list(snapshot.balances) == ["TND"]
    balance = snapshot.balances["TND"]
    assert kinds(balance) == ("1500.50", "200.00", "500.25", "2200.75")
    assert_exact(balance)
    assert snapshot.account == "acct"
    assert snapshot.taken_at == NOW


def test_dhmad_sends_the_key_as_a_bearer_token(
    sim: SimServer, provider_for: ProviderFor, poll: Poll
) -> None:
    poll(provider_for("dhmad"))

    assert sim.last_headers(KEYS["dhmad"])["authorization"] == f"Bearer {KEYS['dhmad']}"


def test_dhmad_reports_in_the_accounts_currency_when_one_is_configured(
    provider_for: ProviderFor, poll: Poll
) -> None:
    """The balance carries no currency: TND by default, the account's `currency` wins."""
    snapshot = poll(provider_for("dhmad", currency="EUR"))

    assert list(snapshot.balances) == ["EUR"]


def test_dhmad_answer_without_available_is_malformed_not_an_unknown_balance(
    scripted: ScriptedServer, poll: Poll
) -> None:
    """`{"balance": {}}` is not a poll that succeeded with nothing to say: it is malformed."""
    scripted.reply = Reply(body=b'{"balance": {"pending": 1, "escrow": 2}}')
    provider = make_provider("dhmad", api_key="k" * 16, base_url=scripted.url)

    with pytest.raises(MalformedResponse, match=r"balance\.available is missing"):
        poll(provider)


# ---------------------------------------------------------------- OneClickDz


def test_oneclickdz_reports_the_available_balance_in_dzd(
    sim: SimServer, provider_for: ProviderFor, poll: Poll
) -> None:
    snapshot = poll(provider_for("oneclickdz"))

    balance = snapshot.balances["DZD"]
    assert list(snapshot.balances) == ["DZD"]
    assert kinds(balance) == ("1326.13", None, None, "1326.13")
    assert sim.last_headers(KEYS["oneclickdz"])["x-access-token"] == KEYS["oneclickdz"]


def test_oneclickdz_success_false_in_a_200_is_a_typed_error_with_its_code(
    sim: SimServer, provider_for: ProviderFor, poll: Poll
) -> None:
    """A 200 whose body says `success: false` never becomes a balance."""
    sim.set_fault(KEYS["oneclickdz"], "success_false")

    with pytest.raises(TransientError) as caught:
        poll(provider_for("oneclickdz"))

    assert "INTERNAL_SERVER_ERROR" in caught.value.reason
    assert "Developer was notified" in caught.value.reason


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("INVALID_ACCESS_TOKEN", AuthError),
        ("IP_BLOCKED", AuthError),
        ("API_DISABLED", AuthError),
        ("RATE_LIMIT_EXCEEDED", RateLimited),
        ("INTERNAL_ERROR", TransientError),
    ],
)
def test_oneclickdz_error_code_in_a_200_decides_the_error_type(
    code: str, error: type[ProviderError]
) -> None:
    """Credential codes lock the IP after a few tries: they are AuthError whatever the status."""
    provider = OneClickDz(OneClickDz.Settings.model_validate({"api_key": "k" * 12}))
    body = {"success": False, "error": {"code": code, "message": "no"}, "requestId": "r1"}

    with pytest.raises(error) as caught:
        provider.parse(body)

    assert type(caught.value) is error
    assert code in caught.value.reason


# ---------------------------------------------------------------- TheDex


THEDEX_EXPECTED = {
    "BTC_BITCOIN": (Decimal("0.00120000"), None, Decimal("0"), Decimal("0.00120000")),
    "USDT_TRON": (Decimal("250"), None, Decimal("50"), Decimal("300")),
}


@pytest.mark.parametrize("shape", ["list", "dict", "duplicate"])
def test_thedex_reads_every_shape_into_one_balance_per_currency(
    sim: SimServer, provider_for: ProviderFor, poll: Poll, shape: str
) -> None:
    """A list of single-currency maps, one dict keyed by currency, or a currency listed
    twice (one map per merchant, summed): the same balances come out, exactly."""
    sim.add_account("thedex", KEYS["thedex"], secret=THEDEX_SECRET, thedex_shape=shape)

    snapshot = poll(provider_for("thedex"))

    assert set(snapshot.balances) == set(THEDEX_EXPECTED)
    for currency, expected in THEDEX_EXPECTED.items():
        balance = snapshot.balances[currency]
        assert_exact(balance)
        assert (balance.available, balance.pending, balance.held, balance.total) == expected


def test_thedex_string_amounts_keep_their_scale(provider_for: ProviderFor, poll: Poll) -> None:
    """Amounts come as JSON strings and become Decimal(str), trailing zeros included."""
    balance = poll(provider_for("thedex")).balances["USDT_TRON"]

    assert kinds(balance) == ("250.00000000", None, "50.00000000", "300.00000000")


def test_thedex_duplicate_currency_is_summed_kind_by_kind(
    sim: SimServer, provider_for: ProviderFor, poll: Poll
) -> None:
    """With halves of 0.00333 split over two maps, the sum is the whole, not the last half."""
    sim.add_account(
        "thedex",
        KEYS["thedex"],
        secret=THEDEX_SECRET,
        thedex_shape="duplicate",
        balances={"ETH_ETHEREUM": {"available": "0.00333", "held": "1.5"}},
    )

    balance = poll(provider_for("thedex")).balances["ETH_ETHEREUM"]

    assert balance.available == Decimal("0.00333")
    assert balance.held == Decimal("1.5")
    assert balance.total == Decimal("1.50333")


def test_thedex_request_is_signed_over_the_exact_body(
    sim: SimServer, provider_for: ProviderFor, poll: Poll
) -> None:
    """The simulator verifies the signature (a bad one is a 401); the headers also say
    what README §3.2 says: payload = base64 of the body, signature = HMAC-SHA512 hex."""
    poll(provider_for("thedex"))

    headers = sim.last_headers(KEYS["thedex"])
    body = base64.b64decode(headers["x-ex-payload"], validate=True)
    sent = json.loads(body)
    assert sent["request"] == "/api/v1/balances"
    assert sent["nonce"].isdigit()
    assert int(sent["nonce"]) >= NOW.timestamp() * 1000
    assert sign(body, THEDEX_SECRET) == (headers["x-ex-payload"], headers["x-ex-signature"])
    assert headers["x-ex-apikey"] == KEYS["thedex"]
    assert headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("body", "payload", "signature"),
    [
        (
            b"{}",
            "e30=",
            "71016f8ea1c5cd01fb6a9893be296c4917f21acfefb015dd732419641e169cb8"
            "92024b31c9551620c581273ea7fd51eb59c8c4a3ec028ea0c2378cb49929370f",
        ),
        (
            b'{"request":"/api/v1/balances","nonce":"1700000000000"}',
            "eyJyZXF1ZXN0IjoiL2FwaS92MS9iYWxhbmNlcyIsIm5vbmNlIjoiMTcwMDAwMDAwMDAwMCJ9",
            "096d212ecd2af41e305e220bb2d8c41a05d0ad5f7acda1d8524e71b46ef2a65d"
            "87fc8f44f00cf90a647ca86e4dc955fcb9e46b7ac962947514a64ed2c02e24a3",
        ),
    ],
    ids=["empty-body", "balances-body"],
)
def test_sign_matches_the_readme_test_vectors(body: bytes, payload: str, signature: str) -> None:
    assert sign(body, "test_secret_key") == (payload, signature)


def test_thedex_nonce_never_goes_backwards_even_with_a_frozen_clock() -> None:
    provider = make_provider("thedex", api_key="k" * 12, secret="s" * 12)

    nonces = [
        json.loads(provider.build_request(NOW - timedelta(seconds=i)).content or b"")["nonce"]
        for i in range(3)
    ]

    assert [int(n) for n in nonces] == sorted(int(n) for n in nonces)
    assert len(set(nonces)) == 3


def test_thedex_wrong_secret_is_an_auth_error_naming_neither_key_nor_secret(
    provider_for: ProviderFor, poll: Poll
) -> None:
    wrong = "wrong-secret-0123456789"

    with pytest.raises(AuthError) as caught:
        poll(provider_for("thedex", secret=wrong))

    text = str(caught.value)
    assert "Invalid signature, api key or payload header" in text
    for secret in (wrong, THEDEX_SECRET, KEYS["thedex"]):
        assert secret not in text


def test_thedex_answer_without_any_balance_entry_is_malformed() -> None:
    """An error-shaped 200 (`{"message": ...}`) is not an empty wallet."""
    provider = make_provider("thedex", api_key="k" * 12, secret="s" * 12)

    with pytest.raises(MalformedResponse):
        provider.parse({"message": "General validation error"})
    with pytest.raises(MalformedResponse):
        provider.parse([{"BTC_BITCOIN": {"availableBalance": None}}])


# ---------------------------------------------------------------- Sunor


def test_sunor_maps_available_frozen_and_total_in_credits(
    sim: SimServer, provider_for: ProviderFor, poll: Poll
) -> None:
    snapshot = poll(provider_for("sunor"))

    assert list(snapshot.balances) == ["CREDITS"]
    assert kinds(snapshot.balances["CREDITS"]) == ("950", None, "10", "960")
    assert sim.last_headers(KEYS["sunor"])["x-api-key"] == KEYS["sunor"]


def test_sunor_code_that_disagrees_with_a_200_is_an_error(
    sim: SimServer, provider_for: ProviderFor, poll: Poll
) -> None:
    """`code` mirrors the HTTP status: `{"code": 500}` inside a 200 is not a balance."""
    sim.set_fault(KEYS["sunor"], "code_mismatch")

    with pytest.raises(TransientError, match="500"):
        poll(provider_for("sunor"))


@pytest.mark.parametrize(
    ("code", "error"),
    [(401, AuthError), (429, RateLimited), (500, TransientError), (99, TransientError)],
)
def test_sunor_body_code_decides_the_error_type(code: int, error: type[ProviderError]) -> None:
    provider = Sunor(Sunor.Settings.model_validate({"api_key": "k" * 12}))

    with pytest.raises(error):
        provider.parse({"code": Decimal(code), "message": "nope"})


# ---------------------------------------------------------------- rejected keys


AUTH_MESSAGES = {
    "dhmad": "Invalid or expired API key",
    "oneclickdz": "The provided access token is invalid",
    "thedex": "Invalid signature, api key or payload header",
    "sunor": "Invalid API key",
}


@pytest.mark.parametrize("name", sorted(AUTH_MESSAGES))
def test_wrong_key_is_a_permanent_auth_error_with_the_providers_message_and_no_key(
    name: str, provider_for: ProviderFor, poll: Poll
) -> None:
    wrong = f"wrong-{name}-key-0123456789"

    with pytest.raises(AuthError) as caught:
        poll(provider_for(name, api_key=wrong))

    assert AUTH_MESSAGES[name] in caught.value.reason
    assert "401" in caught.value.reason
    assert caught.value.permanent
    assert wrong not in str(caught.value)
    assert wrong not in repr(caught.value.args)


def test_a_key_echoed_back_by_the_provider_is_redacted_from_the_error(
    scripted: ScriptedServer, poll: Poll
) -> None:
    """Some APIs quote the rejected key; our error text must not carry it on."""
    key = "sk_live_echoed_0123456789abcdef"
    scripted.reply = Reply(
        401, json.dumps({"error": "Unauthorized", "message": f"bad key {key}"}).encode()
    )

    with pytest.raises(AuthError) as caught:
        poll(make_provider("dhmad", api_key=key, base_url=scripted.url))

    assert key not in str(caught.value)
    assert "bad key ***" in caught.value.reason


def test_a_key_echoed_in_a_malformed_body_is_redacted_from_the_snippet(
    scripted: ScriptedServer, poll: Poll
) -> None:
    key = "sunor-echoed-0123456789abcdef"
    scripted.reply = Reply(200, f'{{"you sent": "{key}", oops'.encode())

    with pytest.raises(MalformedResponse) as caught:
        poll(make_provider("sunor", api_key=key, base_url=scripted.url))

    assert key not in str(caught.value)


def test_a_key_with_a_pasted_typographic_character_is_refused_at_load_without_echo() -> None:
    """httpx cannot send a non-ASCII header; say so when the config loads, not per poll,
    and without repeating the key in the problem line."""
    key = "sk_live_0123456789\u2026"
    text = f"accounts:\n  - name: d\n    provider: dhmad\n    api_key: {key}\n"

    with pytest.raises(ConfigError) as caught:
        parse_config(text, environ={})

    (problem,) = caught.value.problems
    assert problem.startswith("config.yaml:4: accounts[0].api_key: ")
    assert "printable ASCII" in problem
    assert key not in problem
    assert "0123456789" not in problem


def test_a_request_that_cannot_be_sent_is_a_provider_error_not_a_crash(poll: Poll) -> None:
    """Settings built around validation (a plugin, a bug): fetch still lets only a
    ProviderError out, with the secret redacted."""
    secret = "sk_live_0123456789\u2026"
    settings = OneClickDz.Settings.model_construct(
        api_key=SecretStr(secret), base_url="http://127.0.0.1:99999"
    )

    with pytest.raises(ProviderError) as caught:
        poll(OneClickDz(settings))

    assert secret not in str(caught.value)


# ---------------------------------------------------------------- http_json


def test_http_json_reads_dotted_paths_with_a_fixed_currency(sim: SimServer, poll: Poll) -> None:
    """Pointed at Sunor's endpoint, with Sunor's header given in config."""
    provider = make_provider(
        "http_json",
        currency="CREDITS",
        url=sim.base_url("sunor") + "/api/v1/account/balance",
        headers={"x-api-key": KEYS["sunor"]},
        available="data.available",
        held="data.frozen",
    )

    snapshot = poll(provider)

    assert kinds(snapshot.balances["CREDITS"]) == ("950", None, "10", "960")


def test_http_json_posts_its_body_and_reads_list_indexes_and_the_currency_path(
    scripted: ScriptedServer, poll: Poll
) -> None:
    scripted.reply = Reply(
        body=b'{"data": {"wallets": [{"free": 12.50, "locked": "3"}, {"free": 1}],'
        b' "currency": " EUR "}}'
    )
    provider = make_provider(
        "http_json",
        url=scripted.url + "/v1/wallet?format=json",
        method="POST",
        body={"account": "main", "depth": 2},
        headers={"Authorization": "Bearer tok-0123456789"},
        available="data.wallets.0.free",
        pending="data.wallets.-1.free",
        held="data.wallets.0.locked",
        currency_path="data.currency",
    )

    snapshot = poll(provider)

    assert kinds(snapshot.balances["EUR"]) == ("12.50", "1", "3", "16.50")
    request = scripted.received[-1]
    assert (request.method, request.path) == ("POST", "/v1/wallet?format=json")
    assert json.loads(request.body) == {"account": "main", "depth": 2}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer tok-0123456789"


def test_http_json_without_currency_reports_units(scripted: ScriptedServer, poll: Poll) -> None:
    scripted.reply = Reply(body=b'{"balance": "7"}')
    provider = make_provider("http_json", url=scripted.url, available="balance")

    assert poll(provider).balances == {"UNITS": Balance(available=Decimal(7), total=Decimal(7))}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"data": {}}', "none of the configured paths"),
        (b'{"data": {"balance": 1}, "currency": 5}', "not a currency name"),
        (b'{"data": {"balance": 1}, "currency": "\\u0000"}', "not a currency name"),
        (b'{"data": {"balance": 1}, "currency": "EUR", "error": "quota"}', "error: quota"),
    ],
    ids=["no-amount", "numeric-currency", "control-char-currency", "error-path"],
)
def test_http_json_answers_that_are_not_balances_are_errors(
    scripted: ScriptedServer, poll: Poll, body: bytes, error: str
) -> None:
    scripted.reply = Reply(body=body)
    provider = make_provider(
        "http_json",
        url=scripted.url,
        available="data.balance",
        currency_path="currency",
        error_path="error",
    )

    with pytest.raises(ProviderError, match=error):
        poll(provider)


def test_http_json_query_key_and_header_are_secrets_of_the_account() -> None:
    """A key in the URL (`?key=...`) is as secret as a header: both are redacted."""
    provider = make_provider(
        "http_json",
        url="https://api.example.com/v1?key=query-secret-0123&format=json",
        headers={"X-Token": "header-secret-0123"},
        available="balance",
    )

    assert {"query-secret-0123", "header-secret-0123"} <= set(provider.secrets())
    assert "json" not in provider.secrets()


def test_http_json_query_key_echoed_by_the_server_is_redacted(sim: SimServer, poll: Poll) -> None:
    """The simulator's 404 quotes the request target, query string included."""
    secret = "query-secret-0123456789"
    provider = make_provider(
        "http_json", url=f"{sim.base_url('sunor')}/no/such/path?key={secret}", available="a"
    )

    with pytest.raises(TransientError) as caught:
        poll(provider)

    assert "404" in caught.value.reason
    assert secret not in str(caught.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"url": "ftp://example.com"}, "http:// or https://"),
        ({"url": "http://"}, "must name a host"),
        ({"url": "http://exa mple.com"}, "no spaces"),
        ({"url": "http://example.com:99999"}, "port"),
        ({"url": "http://[::1"}, "not a valid URL"),
        ({"headers": {"Bad Name": "v"}}, "not a header name"),
        ({"headers": {"X-Key": "line\nbreak"}}, "printable ASCII"),
        ({"available": "data..x"}, "not a dotted path"),
        ({"available": None}, "give at least one path"),
    ],
)
def test_http_json_settings_that_could_never_work_are_refused_at_load(
    settings: dict[str, Any], message: str
) -> None:
    base = {"url": "https://api.example.com/v1", "available": "data.balance"}

    with pytest.raises(ValidationError, match=message):
        HttpJsonSettings.model_validate({**base, **settings})


def test_one_client_serves_all_four_providers_concurrently(
    sim: SimServer, provider_for: ProviderFor
) -> None:
    """The daemon shares one client; concurrent polls over it keep their own answers."""

    async def all_four() -> list[Snapshot]:
        async with make_client() as client:
            return await asyncio.gather(
                *(fetch_once(provider_for(name), client=client) for name in KEYS)
            )

    snapshots = asyncio.run(all_four())

    assert [sorted(s.balances) for s in snapshots] == [
        ["TND"],
        ["DZD"],
        ["BTC_BITCOIN", "USDT_TRON"],
        ["CREDITS"],
    ]
