"""Keys through the shared fetch path, for every provider: a rejected key is a permanent
AuthError with the provider's own message and without the key; a key the provider echoes
back is redacted; a key that could never be sent is refused when the config loads.
"""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from balancewatch.config.load import parse_config
from balancewatch.model import AuthError, ConfigError, MalformedResponse, ProviderError
from balancewatch.providers.oneclickdz import OneClickDz
from tests.conftest import Reply, ScriptedServer, make_provider
from tests.providers.helpers import Poll, ProviderFor

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
