"""httpx's reading of a URL, without importing httpx: a config load need not pay for it.

:func:`read_url` gives the scheme, host and port that ``httpx.URL(value)`` gives, and
raises :class:`InvalidUrl` exactly where it raises ``httpx.InvalidURL``; the rules are
httpx 0.28's (``httpx/_urlparse.py``), and a test holds the two to the same answers on
hand-picked and generated URLs.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

MAX_URL_LENGTH = 65536

_URL = re.compile(
    r"(?:(?P<scheme>([a-zA-Z][a-zA-Z0-9+.-]*)?):)?"
    r"(?://(?P<authority>[^/?#]*))?"
    r"(?P<path>[^?#]*)"
)
_AUTHORITY = re.compile(r"(?:(?P<userinfo>.*)@)?(?P<host>(\[.*\]|[^:@]*)):?(?P<port>.*)?")
_IPV4_STYLE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$")
_QUOTED_IN_HOST = str.maketrans({c: f"%{ord(c):02X}" for c in " <>[]^"})
"""The printable characters httpx %-quotes in an ASCII host name."""
_DEFAULT_PORTS = {"ftp": 21, "http": 80, "https": 443, "ws": 80, "wss": 443}


class InvalidUrl(ValueError):
    """Where ``httpx.URL(value)`` raises ``httpx.InvalidURL``; the URL is not repeated."""


@dataclass(frozen=True, slots=True)
class HttpUrl:
    scheme: str
    """Lower-case; empty when the URL has none."""
    encoded_host: str
    """Lower-case, IPv6 without brackets, IDNA (``xn--``) encoded."""
    port: int | None
    """None when absent or the scheme's default."""

    @property
    def host(self) -> str:
        """As ``httpx.URL.host``, which decodes a host starting with ``xn--``, and raises
        (``idna.IDNAError``, a ValueError) when that does not decode."""
        if not self.encoded_host.startswith("xn--"):
            return self.encoded_host
        import idna

        try:
            return str(idna.decode(self.encoded_host))
        except idna.IDNAError:
            raise InvalidUrl("not a valid international host name") from None


def read_url(value: str) -> HttpUrl:
    """The parts of ``value`` as httpx reads them; :class:`InvalidUrl` where httpx refuses."""
    if len(value) > MAX_URL_LENGTH or any(c.isascii() and not c.isprintable() for c in value):
        raise InvalidUrl("too long, or a control character in it")
    parts = _URL.match(value)
    authority = _AUTHORITY.match(parts["authority"] or "") if parts else None
    if parts is None or authority is None:  # both patterns match any string
        raise InvalidUrl("not a URL")
    scheme = parts["scheme"] or ""
    host = _encoded_host(authority["host"] or "")
    port = _port(authority["port"], scheme)
    path = parts["path"] or ""
    has_authority = bool(authority["userinfo"] or host or port is not None)
    if not scheme and not has_authority and path.startswith(("//", ":")):
        raise InvalidUrl("a relative URL cannot start with // or :")
    return HttpUrl(scheme.lower(), host, port)


def _encoded_host(host: str) -> str:
    if not host:
        return ""
    if _IPV4_STYLE.match(host):
        try:
            ipaddress.IPv4Address(host)
        except ipaddress.AddressValueError:
            raise InvalidUrl("not an IPv4 address") from None
        return host
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ipaddress.AddressValueError:
            raise InvalidUrl("not an IPv6 address") from None
        return host[1:-1]
    if host.isascii():
        return host.lower().translate(_QUOTED_IN_HOST)
    import idna  # only for a non-ASCII host

    try:
        return str(idna.encode(host.lower()).decode("ascii"))
    except idna.IDNAError:
        raise InvalidUrl("not a valid international host name") from None


def _port(port: str | None, scheme: str) -> int | None:
    if not port:
        return None
    try:
        number = int(port)  # as httpx: int() also takes '+80' or '8_0'
    except ValueError:
        raise InvalidUrl("the port is not a number") from None
    return None if number == _DEFAULT_PORTS.get(scheme) else number
