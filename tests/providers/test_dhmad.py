"""Dhmad (``dhmad.py``) against the simulator over real sockets: the wire format of
``shared/providers/README.md`` §1, mapped to the four kinds (DESIGN.md §2-§3).

Amounts are compared as their text, so the scale Dhmad sent is checked too.
"""

from __future__ import annotations

import pytest

from balancewatch.model import MalformedResponse
from balancewatch.sim.server import SimServer
from tests.conftest import KEYS, NOW, Reply, ScriptedServer, make_provider
from tests.providers.helpers import Poll, ProviderFor, assert_exact, kinds


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
