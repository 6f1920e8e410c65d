"""OneClickDz v3 (``oneclickdz.py``) against the simulator and on error bodies: the wire
format of ``shared/providers/README.md`` §2; a credential code is an AuthError whatever
the HTTP status (a few bad keys lock the whole IP).
"""

from __future__ import annotations

import pytest

from balancewatch.model import AuthError, ProviderError, RateLimited, TransientError
from balancewatch.providers.oneclickdz import OneClickDz
from balancewatch.sim.server import SimServer
from tests.conftest import KEYS
from tests.providers.helpers import Poll, ProviderFor, kinds


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
