"""The simulator's control channel, `/_sim/` on its own port, over real HTTP.

A change made there is what the provider's wire API answers next (read back with httpx
as in test_sim.py); amounts stay exact; a mistake is a 4xx naming it and changes nothing.
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from balancewatch.sim.server import SimServer
from tests.conftest import KEYS
from tests.sim.test_server import fetch, parse


def admin(sim: SimServer, method: str, path: str, content: bytes | str = b"") -> httpx.Response:
    root = sim.base_url("dhmad").rsplit("/", 1)[0]
    return httpx.request(method, f"{root}/_sim/{path}", content=content, timeout=5)


def test_a_posted_amount_is_served_exactly_even_as_a_json_number(sim: SimServer) -> None:
    """`{"available": 950.10}` (a JSON number, read as a Decimal) is served as 950.10."""
    answer = admin(sim, "POST", "accounts/oneclickdz", '{"available": 950.10}')
    assert answer.status_code == 200
    assert answer.json()["balances"] == {"DZD": {"available": "950.10"}}
    with httpx.Client() as client:
        response = fetch(client, sim, "oneclickdz", KEYS["oneclickdz"])
    assert b'"balance":950.10' in response.content


def test_a_fault_is_set_and_cleared_by_api_key(sim: SimServer) -> None:
    """`{"fault": "429"}` by the account's key, then `{"fault": null}`: 429, then 200."""
    key = KEYS["sunor"]
    assert admin(sim, "POST", f"accounts/{key}", '{"fault": "429"}').json()["fault"] == (
        "rate_limited"
    )
    with httpx.Client() as client:
        assert fetch(client, sim, "sunor", key).status_code == 429
        assert admin(sim, "POST", f"accounts/{key}", '{"fault": null}').json()["fault"] is None
        assert parse(fetch(client, sim, "sunor", key))["data"]["available"] == Decimal(950)


def test_the_account_list_gives_every_account_with_amounts_as_text(sim: SimServer) -> None:
    """`GET /_sim/accounts`: provider, key, secret, balances (strings) and fault of each."""
    accounts = admin(sim, "GET", "accounts").json()["accounts"]
    assert [a["api_key"] for a in accounts] == [KEYS[p] for p in KEYS]
    dhmad = accounts[0]
    assert dhmad["balances"] == {
        "TND": {"available": "1500.50", "pending": "200.00", "held": "500.25"}
    }
    assert (dhmad["fault"], dhmad["requests"]) == (None, 0)  # control calls are not traffic


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        (
            "POST",
            "accounts/oneclickdz",
            '{"available": "1", "fault": "bogus"}',
            400,
            "unknown fault 'bogus'",
        ),
        (
            "POST",
            "accounts/oneclickdz",
            '{"available": "1", "availble": "2"}',
            400,
            "unknown field(s) availble",
        ),
        (
            "POST",
            "accounts/oneclickdz",
            '{"available": NaN}',
            400,
            "the body is not JSON: NaN is not an amount",
        ),
        (
            "POST",
            "accounts/oneclickdz",
            '{"available": true}',
            400,
            "'available' must be a finite amount",
        ),
        (
            "POST",
            "accounts/oneclickdz",
            '{"available": "Infinity"}',
            400,
            "'available' must be a finite amount",
        ),
        ("POST", "accounts/oneclickdz", "{}", 400, "send a JSON object of what to change"),
        ("POST", "accounts/oneclickdz", "available=1", 400, "the body is not JSON"),
        ("POST", "accounts/nobody", '{"available": "1"}', 404, "no simulated account 'nobody'"),
        ("PUT", "accounts/oneclickdz", '{"available": "1"}', 405, "PUT is not allowed here"),
        ("POST", "accounts", '{"available": "1"}', 405, "POST is not allowed here; use GET"),
        ("GET", "balances", "", 404, "no such path '/_sim/balances'"),
    ],
)
def test_a_mistake_is_refused_with_its_reason_and_changes_nothing(
    sim: SimServer, method: str, path: str, body: str, status: int, error: str
) -> None:
    """Bad fields, amounts, accounts, methods and paths: a 4xx naming the problem; the
    account's balance and fault stay as they were."""
    answer = admin(sim, method, path, body)
    assert answer.status_code == status
    assert error in answer.json()["error"]
    with httpx.Client() as client:
        response = fetch(client, sim, "oneclickdz", KEYS["oneclickdz"])
    assert response.status_code == 200
    assert parse(response)["data"]["balance"] == Decimal("1326.13")
