"""TheDex (``thedex.py``) against the simulator: every answer shape, string amounts kept
exact, and requests signed as ``shared/providers/README.md`` §3 says (its test vectors).
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from decimal import Decimal

import pytest

from balancewatch.model import AuthError, MalformedResponse
from balancewatch.providers.thedex import sign
from balancewatch.sim.server import SimServer
from tests.conftest import KEYS, NOW, THEDEX_SECRET, make_provider
from tests.providers.helpers import Poll, ProviderFor, assert_exact, kinds

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
