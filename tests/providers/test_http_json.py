"""``http_json``: any JSON balance API described in config, against the simulator and a
scripted server: dotted paths, list indexes, POST bodies, currency paths, credentials in
headers and in the URL, and settings that could never work refused at load.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from balancewatch.model import Balance, ProviderError, TransientError
from balancewatch.providers.http_json import HttpJsonSettings
from balancewatch.sim.server import SimServer
from tests.conftest import KEYS, Reply, ScriptedServer, make_provider
from tests.providers.helpers import Poll, kinds


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
