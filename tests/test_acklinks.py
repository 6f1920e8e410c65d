"""Acknowledgement links: signed with the current secret, verified with it or a previous
one, refused when changed, invented, signed with an unknown key, or expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from balancewatch.acklinks import AckClaim, AckSigner, BadLink, ExpiredLink, link

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
OLD = "o" * 32
NEW = "n" * 32
CLAIM = AckClaim("shop", "threshold:DZD", NOW.replace(microsecond=123456), NOW + timedelta(days=7))


def test_a_signed_claim_verifies_to_the_same_claim_until_it_expires() -> None:
    """Episode kept to the microsecond, expiry to the second; at expiry it is refused."""
    signer = AckSigner.from_secrets(NEW)
    token = signer.sign(CLAIM)
    assert signer.verify(token, NOW) == CLAIM
    assert signer.verify(token, CLAIM.expires - timedelta(seconds=1)) == CLAIM
    with pytest.raises(ExpiredLink, match="expired at 2024-05-08 12:00 UTC"):
        signer.verify(token, CLAIM.expires)


def test_a_rotated_secret_still_verifies_links_signed_with_the_previous_one() -> None:
    """New links are signed with the new secret; old ones verify while it is listed as
    previous, and are refused once it is removed."""
    old_token = AckSigner.from_secrets(OLD).sign(CLAIM)
    rotated = AckSigner.from_secrets(NEW, [OLD])
    assert rotated.verify(old_token, NOW) == CLAIM
    new_token = rotated.sign(CLAIM)
    assert new_token.split(".")[0] != old_token.split(".")[0]  # another key id
    assert AckSigner.from_secrets(NEW).verify(new_token, NOW) == CLAIM
    with pytest.raises(BadLink, match="key this balancewatch does not have"):
        AckSigner.from_secrets(NEW).verify(old_token, NOW)


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # the MAC
        lambda t: t.replace(".", ".e", 1),  # the claim
        lambda t: t + ".x",
        lambda t: "",
        lambda t: "x" * 2000,
    ],
    ids=["mac", "claim", "extra part", "empty", "huge"],
)
def test_a_changed_or_invented_token_is_refused_as_forged(change: object) -> None:
    """Whatever was changed, verification says it is not genuine (never "expired")."""
    signer = AckSigner.from_secrets(NEW)
    token = signer.sign(CLAIM)
    with pytest.raises(BadLink):
        signer.verify(change(token), NOW)  # type: ignore[operator]


def test_a_token_with_another_claim_under_a_genuine_mac_is_refused() -> None:
    """Moving a MAC onto another account's claim does not make it valid."""
    signer = AckSigner.from_secrets(NEW)
    kid, _, mac = signer.sign(CLAIM).split(".")
    _, other, _ = signer.sign(AckClaim("vip", "auth", NOW, NOW + timedelta(days=1))).split(".")
    with pytest.raises(BadLink, match="changed"):
        signer.verify(f"{kid}.{other}.{mac}", NOW)


def test_the_link_is_the_public_address_and_the_token() -> None:
    """A trailing slash on the address is not doubled."""
    assert link("https://bw.example.com/", "k.c.m") == "https://bw.example.com/ack/k.c.m"
