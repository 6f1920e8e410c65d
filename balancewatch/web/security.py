"""What guards the page: headers, operator passwords, sessions and CSRF tokens. Standard
library only, no I/O, so every rule here is tested with plain values.

- **Headers** (:data:`HEADERS`): a Content-Security-Policy that allows no script at all,
  styles and images from the page's own origin only, no framing, forms posting only back
  here; ``nosniff``; no referrer (a link followed from the page leaks nothing).
- **Passwords** (``http: {users: {name: <hash>}}``): :mod:`balancewatch.passwords`.
- **Sessions**: a cookie ``name|expiry|mac``, the MAC (HMAC-SHA256 with the page's key)
  covering the name, the expiry and the user's password hash, so changing a password ends
  its sessions. Stateless: nothing is stored.
- **CSRF**: every form carries a token bound to a random cookie of the browser's
  (``HMAC(key, "csrf" | cookie)``); a POST without both, or with a mismatch, changes
  nothing. The cookies are ``SameSite=Strict`` and ``HttpOnly`` besides.

The key is ``http: {secret: ...}`` when set (sessions then survive a restart), else random
per process.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from balancewatch.passwords import b64, unb64

CSP = "; ".join(
    (
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
"""Sent with every answer, errors included."""

SESSION_COOKIE = "bw_session"
CSRF_COOKIE = "bw_csrf"
CSRF_FIELD = "csrf"
SESSION_TTL = 12 * 3600
"""A signed-in operator signs in again after 12 hours."""


@dataclass(frozen=True)
class Signer:
    """The page's key, and what it signs: sessions and CSRF tokens."""

    key: bytes
    clock: Callable[[], float] = time.time

    @classmethod
    def from_secret(cls, secret: str | None) -> Signer:
        if secret:
            return cls(hashlib.sha256(b"balancewatch-web|" + secret.encode()).digest())
        return cls(secrets.token_bytes(32))

    def _mac(self, *parts: str) -> str:
        message = "|".join(parts).encode()
        return b64(hmac.new(self.key, message, hashlib.sha256).digest())

    # ------------------------------------------------------------ sessions

    def session(self, user: str, stored_hash: str) -> str:
        """A session cookie's value for ``user``, valid for :data:`SESSION_TTL`."""
        expiry = str(int(self.clock()) + SESSION_TTL)
        return f"{b64(user.encode())}|{expiry}|{self._mac('session', user, expiry, stored_hash)}"

    def session_user(self, cookie: str | None, users: Mapping[str, str]) -> str | None:
        """The operator a session cookie belongs to, or None (absent, forged, expired, or
        the user removed or given a new password since)."""
        if not cookie or cookie.count("|") != 2:
            return None
        encoded, expiry, mac = cookie.split("|")
        try:
            user = unb64(encoded).decode()
            ends = int(expiry)
        except (ValueError, UnicodeDecodeError):
            return None
        stored = users.get(user)
        if stored is None or ends < self.clock():
            return None
        if not hmac.compare_digest(mac, self._mac("session", user, expiry, stored)):
            return None
        return user

    # ------------------------------------------------------------ CSRF

    @staticmethod
    def new_csrf_cookie() -> str:
        return secrets.token_urlsafe(24)

    def csrf_token(self, cookie: str) -> str:
        """The hidden form field that goes with the browser's CSRF cookie."""
        return self._mac("csrf", cookie)

    def csrf_ok(self, cookie: str | None, token: str | None) -> bool:
        """A POST is genuine only with the cookie and the token derived from it."""
        if not cookie or not token:
            return False
        return hmac.compare_digest(token, self.csrf_token(cookie))
