"""Acknowledgement links: signed, expiring tokens naming one episode of one alert.

A notification about a firing alert carries ``<public_url>/ack/<token>``; whoever holds
the link may acknowledge that alert's current episode (stop its reminders). The token is::

    <key id>.<claim>.<mac>

- **claim**: base64url of the JSON list ``[account, alert key, episode, expiry]``; the
  episode is the instant the alert started firing (microseconds since the epoch: a new
  episode of the same alert is another token), the expiry whole seconds since the epoch;
- **mac**: HMAC-SHA256 over ``"ack" | key id | claim``, with a key derived from
  ``http: {secret: ...}`` (``HMAC(secret, "balancewatch-ack-v1")``: never the secret itself,
  and never the key that signs sessions);
- **key id**: the first 8 hex digits of SHA-256 of the derived key. It says which key
  signed, so verification tries one key, not each in turn.

Rotation: a new ``secret`` signs every new link; the old one listed under
``http: {previous_secrets: [...]}`` still verifies the links already sent until they
expire, then can be removed. Forged (bad shape, unknown key, wrong MAC) and expired are
different errors, so the page can say which.

Standard library only, no I/O, no clock (``now`` is passed in).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from balancewatch.passwords import b64, unb64

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
DEFAULT_TTL = timedelta(days=7)
MAX_TOKEN = 1000
"""A token longer than this is refused before any decoding."""


class BadLink(ValueError):
    """The token was not made by this balancewatch: a changed, truncated or invented link."""


class ExpiredLink(ValueError):
    """A genuine token past its expiry."""


@dataclass(frozen=True, slots=True)
class AckClaim:
    """What a token says: acknowledge this episode of this alert, until ``expires``."""

    account: str
    alert_key: str
    episode: datetime
    expires: datetime


def _derive(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"balancewatch-ack-v1", hashlib.sha256).digest()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


@dataclass(frozen=True)
class AckSigner:
    """Signs with the current secret, verifies with it or any previous one."""

    keys: tuple[tuple[str, bytes], ...]
    """(key id, key), the current one first."""

    @classmethod
    def from_secrets(cls, current: str, previous: Sequence[str] = ()) -> AckSigner:
        keys = [_derive(secret) for secret in (current, *previous)]
        return cls(tuple((_key_id(key), key) for key in keys))

    def _mac(self, key: bytes, kid: str, claim: str) -> str:
        message = f"ack|{kid}|{claim}".encode()
        return b64(hmac.new(key, message, hashlib.sha256).digest())

    def sign(self, claim: AckClaim) -> str:
        kid, key = self.keys[0]
        body = [
            claim.account,
            claim.alert_key,
            (claim.episode - EPOCH) // MICROSECOND,
            int((claim.expires - EPOCH).total_seconds()),
        ]
        encoded = b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{kid}.{encoded}.{self._mac(key, kid, encoded)}"

    def verify(self, token: str, now: datetime) -> AckClaim:
        """The claim of a genuine, unexpired token; :class:`BadLink` or
        :class:`ExpiredLink` otherwise."""
        parts = token.split(".") if len(token) <= MAX_TOKEN else []
        if len(parts) != 3:
            raise BadLink("this is not an acknowledgement link")
        kid, encoded, mac = parts
        key = dict(self.keys).get(kid)
        if key is None:
            raise BadLink("this link was signed with a key this balancewatch does not have")
        if not hmac.compare_digest(mac, self._mac(key, kid, encoded)):
            raise BadLink("this link was changed after it was sent")
        claim = _decode(encoded)
        if claim.expires <= now:
            raise ExpiredLink(f"this link expired at {claim.expires:%Y-%m-%d %H:%M} UTC")
        return claim


def _decode(encoded: str) -> AckClaim:
    try:
        account, key, episode, expires = json.loads(unb64(encoded))
        if not (isinstance(account, str) and isinstance(key, str)):
            raise TypeError("names must be strings")
        return AckClaim(
            account, key, EPOCH + int(episode) * MICROSECOND, EPOCH + timedelta(seconds=expires)
        )
    except (ValueError, TypeError, OverflowError) as error:
        # A valid MAC over a claim we cannot read: only a key holder could make one.
        raise BadLink("this link's contents cannot be read") from error


def link(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/ack/{token}"
