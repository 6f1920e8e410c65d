"""Sunor (``sunor.py``) against the simulator and on error bodies: ``code`` in the body
mirrors the HTTP status, and a 200 whose ``code`` disagrees is an error
(``shared/providers/README.md`` §4).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from balancewatch.model import AuthError, ProviderError, RateLimited, TransientError
from balancewatch.providers.sunor import Sunor
from balancewatch.sim.server import SimServer
from tests.conftest import KEYS
from tests.providers.helpers import Poll, ProviderFor, kinds


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
