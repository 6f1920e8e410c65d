"""``state: {url: ...}``: PostgreSQL instead of a SQLite file, its password a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from balancewatch.config.load import Config, parse_config, state_location
from balancewatch.model import ConfigError

URL = "postgresql://bw:s3cret%2Fpw@db.internal:5432/balancewatch"
ACCOUNTS = "accounts:\n  - {name: shop, provider: oneclickdz, api_key: not-used-key-123}\n"


def config(state: str, environ: dict[str, str] | None = None) -> Config:
    return parse_config(state + ACCOUNTS, environ=environ or {})


def test_a_url_selects_postgresql_and_a_path_sqlite() -> None:
    """location() is what the store factory opens: the URL, else the file."""
    shared = config(f"state:\n  url: {URL}\n")
    local = config("state:\n  path: /var/lib/bw/state.db\n")

    assert state_location(shared, {}) == URL
    assert state_location(local, {}) == Path("/var/lib/bw/state.db")
    assert state_location(config(""), {"STATE_DIRECTORY": "/srv"}) == Path("/srv/state.db")


def test_the_url_and_its_password_are_secrets() -> None:
    """Logs are cleaned of the whole URL and of the password alone, both as written and
    percent-decoded (psycopg and libpq messages name neither, but a server might)."""
    loaded = config(f"state:\n  url: {URL}\n")

    assert {URL, "s3cret%2Fpw", "s3cret/pw"} <= loaded.secrets
    assert "s3cret" not in repr(loaded.state)


def test_the_url_may_come_from_the_environment() -> None:
    """``${VAR}`` as for any value; the interpolated URL is a secret too."""
    loaded = config("state:\n  url: ${BW_DB}\n", {"BW_DB": URL})

    assert state_location(loaded, {}) == URL
    assert URL in loaded.secrets


def test_the_url_may_be_a_systemd_credential(tmp_path: Path) -> None:
    """``credential:NAME`` reads $CREDENTIALS_DIRECTORY/NAME, as for any secret."""
    (tmp_path / "state-url").write_text(URL + "\n")

    loaded = config(
        "state:\n  url: credential:state-url\n", {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    )

    assert state_location(loaded, {}) == URL
    assert "s3cret/pw" in loaded.secrets


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("url: mysql://bw:Sup3rSecretPw@db/bw", "give a PostgreSQL URL"),
        ("url: ''", "give a PostgreSQL URL"),
        ("url: 5432", "give a PostgreSQL URL"),
        (f"url: {URL}\n  path: /tmp/s.db", "not both"),
    ],
)
def test_a_wrong_state_section_is_named_without_quoting_the_url(text: str, message: str) -> None:
    """The error says where and what, never the value (it holds a password)."""
    with pytest.raises(ConfigError) as error:
        config(f"state:\n  {text}\n")

    report = "\n".join(error.value.problems)
    assert message in report
    assert "config.yaml:" in report
    assert "Sup3rSecretPw" not in report
    assert "s3cret" not in report
