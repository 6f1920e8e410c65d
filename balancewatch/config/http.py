"""The ``http:`` section: where the status page listens, and who may act on it."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from balancewatch.acklinks import DEFAULT_TTL, AckSigner
from balancewatch.config.problems import NAME_PATTERN
from balancewatch.fields import PositiveDuration
from balancewatch.passwords import hash_problem

SHORT_SECRET = (
    "use at least 32 random characters (e.g. `openssl rand -hex 32` into a "
    "file, then secret: file:/etc/balancewatch/web-secret)"
)


class HttpSettings(BaseModel):
    """The status page, ``/metrics`` and ``/healthz``, on one address.

    ``listen`` port 0 takes any free port (the log and the demo say which). ``secret``
    keys what the page signs (sessions, acknowledgement links), so that they survive a
    restart; ``users`` are the operators who may sign in, each with a hash from
    ``python -m balancewatch.passwords``. ``public_url`` is the page's address as others
    reach it (through a proxy): links in notifications point there. With both
    ``public_url`` and ``secret``, every notification of a firing alert carries a link
    acknowledging it, valid ``ack_links_valid_for``; ``previous_secrets`` still verify the
    links signed before a rotation (:mod:`balancewatch.acklinks`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    listen: str = "127.0.0.1:9464"
    public_url: str | None = None
    secret: SecretStr | None = None
    previous_secrets: tuple[SecretStr, ...] = ()
    ack_links_valid_for: PositiveDuration = DEFAULT_TTL
    users: Mapping[str, SecretStr] = Field(default_factory=dict)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host.strip("[]") or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("write host:port, e.g. 127.0.0.1:9464 or [::1]:9464")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("write the page's address, e.g. https://status.example.com/")
        return value.rstrip("/")

    @field_validator("secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError(SHORT_SECRET)
        return value

    @field_validator("previous_secrets")
    @classmethod
    def _long_previous(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        if any(len(old.get_secret_value()) < 32 for old in value):
            raise ValueError(SHORT_SECRET)
        return value

    @model_validator(mode="after")
    def _rotation_needs_a_secret(self) -> HttpSettings:
        if self.previous_secrets and self.secret is None:
            raise ValueError("previous_secrets is for rotating `secret`: set secret too")
        return self

    @field_validator("users")
    @classmethod
    def _hashes(cls, value: Mapping[str, SecretStr]) -> Mapping[str, SecretStr]:
        for name, stored in value.items():
            if not re.fullmatch(NAME_PATTERN.strip("^$"), name):
                raise ValueError(f"user name {name[:40]!r}: letters, digits, '-' and '_'")
            problem = hash_problem(stored.get_secret_value())
            if problem is not None:
                raise ValueError(f"user {name!r}: {problem}")
        return value

    def ack_signer(self) -> AckSigner | None:
        """What signs and verifies acknowledgement links (None: no ``secret``)."""
        if self.secret is None:
            return None
        previous = [old.get_secret_value() for old in self.previous_secrets]
        return AckSigner.from_secrets(self.secret.get_secret_value(), previous)

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])
