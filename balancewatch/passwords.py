"""Operator passwords for the status page (``http: {users: {name: <hash>}}``).

scrypt from :mod:`hashlib` with a random salt per hash, compared in constant time. The
config holds the hash, never the password; ``python -m balancewatch.passwords`` asks for a
password twice and prints its hash. Neither a password nor a hash is ever logged or shown.
Here, at the bottom layer, because the config checks a hash's form and the page checks a
password against it.
"""

from __future__ import annotations

import base64
import functools
import getpass
import hashlib
import hmac
import secrets
import sys


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    """Inverse of :func:`b64`; ValueError on anything else."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as error:  # binascii.Error is a ValueError
        raise ValueError("not base64") from error


# scrypt's cost: about 16 MB and a few tens of milliseconds per check, which is what makes
# guessing slow (RFC 7914's interactive parameters).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_SCHEME = "scrypt"


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$16384$8$1$<salt>$<hash>``: what ``http: {users: {name: ...}}`` holds."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"{_SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt)}${b64(digest)}"


def hash_problem(stored: str) -> str | None:
    """Why ``stored`` is not a password hash this module made (None: it is one)."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        return "write a hash made by `python -m balancewatch.passwords`, not a password"
    try:
        n, r, p = (int(x) for x in parts[1:4])
        unb64(parts[4])
        unb64(parts[5])
    except ValueError:
        return "this password hash is damaged: make it again (python -m balancewatch.passwords)"
    if n < 2**10 or n & (n - 1) or not 0 < r <= 64 or not 0 < p <= 16:
        return "this password hash has parameters out of range: make it again"
    return None


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant time; a damaged hash matches nothing)."""
    if hash_problem(stored) is not None:
        return False
    _, n, r, p, salt, digest = stored.split("$")
    expected = unb64(digest)
    got = hashlib.scrypt(
        password.encode(),
        salt=unb64(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=len(expected),
        maxmem=256 * 1024 * 1024,
    )
    return hmac.compare_digest(got, expected)


@functools.cache
def dummy_hash() -> str:
    """Checked against when the user name is unknown, so the answer takes as long either
    way. Made on first use: scrypt is slow on purpose, and most commands never need it."""
    return hash_password("", salt=b"\0" * 16)


def main() -> int:
    """Ask for a password twice (not echoed) and print its hash for ``http: users:``."""
    try:
        first = getpass.getpass("password: ")
        second = getpass.getpass("again: ")
    except (EOFError, KeyboardInterrupt):
        print("no password given", file=sys.stderr)
        return 1
    if first != second:
        print("the two passwords differ: nothing printed", file=sys.stderr)
        return 1
    if len(first) < 10:
        print("use at least 10 characters", file=sys.stderr)
        return 1
    print(hash_password(first))
    return 0


if __name__ == "__main__":
    sys.exit(main())
