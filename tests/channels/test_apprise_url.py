"""``validate`` starts fast and still refuses exactly what it refused before (issue 7).

A notifier URL is checked by the one Apprise plugin its scheme names, not after Apprise
has imported all of its plugins; a provider URL is read by httpx's rules without
importing httpx. Each shortcut is held to the answers of what it replaces: the real
``Apprise().add(url)`` and the real ``httpx.URL(value)``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import apprise
import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.version import Version

from balancewatch.channels import apprise_url as appriseurl
from balancewatch.channels import schemes as apprise_schemes
from balancewatch.channels.console import register_console
from balancewatch.providers import check_http_url

SCHEMES = sorted(appriseurl.scheme_plugins() or ())
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

URL_SHAPES = (
    "{s}://",
    "{s}://localhost",
    "{s}://user:pass@localhost:8080/path/to?format=text",
    "{s}://abcdefghijklmnop/ABCDEFGHIJKLMNOP/1234567890abcdef",
    "{s}://" + "a" * 32 + "@" + "b" * 24,
    "{s}://token/#channel",
    "{s}://+15551234567/+15557654321",
    "{s}://user@example.com/123456789/?to=a@b.com",
    "json://localhost, {s}://localhost",
)
"""Good and bad URLs for every scheme: tokens of plausible shapes, missing parts, two URLs."""


def apprise_adds(url: str) -> bool:
    return bool(apprise.Apprise().add(url))


# ---------------------------------------------------------------- Apprise URLs


def test_the_installed_apprise_has_its_own_scheme_table() -> None:
    """The table shipped for this release is what `python -m balancewatch.channels.apprise_url` writes
    from it (CI runs this with the newest and the oldest supported Apprise)."""
    assert apprise.__version__ in apprise_schemes.SUPPORTED
    written = appriseurl.table_path(apprise.__version__).read_text()

    assert appriseurl.table_source() == written


def test_the_supported_releases_are_exactly_what_pyproject_allows() -> None:
    """A fresh install can only pick an Apprise that has a table: the range in pyproject.toml
    runs from the oldest supported release to the newest, both included."""
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (apprise_spec,) = [Requirement(d) for d in dependencies if d.startswith("apprise")]

    assert str(apprise_spec.specifier) == ",".join(
        sorted([f">={apprise_schemes.SUPPORTED[0]}", f"<={apprise_schemes.SUPPORTED[-1]}"])
    )
    assert list(apprise_schemes.SUPPORTED) == sorted(apprise_schemes.SUPPORTED, key=Version)
    for version in apprise_schemes.SUPPORTED:
        assert apprise_spec.specifier.contains(version)
        table = apprise_schemes.plugins(version)
        assert table is not None
        assert len(table) > 150, version


ON_ANOTHER_RELEASE = """\
import apprise, json, sys
apprise.__version__ = "9.9.9"  # a release balancewatch has no table for
from balancewatch.channels import apprise_url as appriseurl
print(json.dumps([appriseurl.accepts("json://localhost/hook"), appriseurl.accepts("json://")]))
"""


def test_an_apprise_without_a_table_is_slower_but_said_and_still_right() -> None:
    """Installed by hand outside the range, Apprise judges every URL itself (all plugins
    loaded) and a warning says so: never a quiet slowdown, never a wrong answer."""
    done = subprocess.run(
        [sys.executable, "-c", ON_ANOTHER_RELEASE], capture_output=True, text=True, check=True
    )

    assert json.loads(done.stdout) == [True, False]
    assert "Apprise 9.9.9 is not a release balancewatch is tested with" in done.stderr
    assert done.stderr.count("is not a release") == 1


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_is_judged_as_apprise_add_judges_it(scheme: str) -> None:
    for shape in URL_SHAPES:
        url = shape.format(s=scheme)
        assert appriseurl.accepts(url) == apprise_adds(url), url


def test_the_shapes_cover_accepted_and_refused_urls() -> None:
    """The comparison above means something: both answers occur, for many schemes."""
    answers = {(s, appriseurl.accepts(shape.format(s=s))) for s in SCHEMES for shape in URL_SHAPES}

    assert len({s for s, ok in answers if ok}) > 100
    assert len({s for s, ok in answers if not ok}) > 200


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("json://localhost/hook", True),
        ("JSON://localhost/hook", True),
        ("json://localhost/#channel", True),
        ("json://a json://b", True),  # Apprise.add splits at spaces and commas
        ("json://localhost, nonsense", False),
        ("nonsense", False),
        ("", False),
        ("slack://not-enough-tokens", False),
        ("tgram://123456789:abcdefg_hijklmnop/-1001234567", True),
        ("nosuchscheme://localhost", False),
        ("https://discord.com/api/webhooks/4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", True),
        ("https://example.com/not/a/service", False),
        ("bwconsole://", True),
    ],
)
def test_special_urls_are_judged_as_apprise_add_judges_them(url: str, accepted: bool) -> None:
    """Unknown schemes (a service's own https:// address, bwconsole://) go to Apprise itself."""
    register_console()

    assert appriseurl.accepts(url) is accepted
    assert apprise_adds(url) is accepted


def test_only_unknown_schemes_need_every_plugin() -> None:
    assert not appriseurl.needs_every_plugin("json://localhost, mailto://u:p@example.com")
    assert not appriseurl.needs_every_plugin("no scheme at all")
    assert appriseurl.needs_every_plugin("json://localhost https://discord.com/api/webhooks/1/x")
    assert appriseurl.needs_every_plugin("bwconsole://")


@pytest.fixture
def apprise_records() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("apprise")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def test_apprise_never_logs_the_url_it_is_asked_about(
    apprise_records: list[logging.LogRecord],
) -> None:
    secret = "T00000000/B00000000/secret-slack-token-XYZ"

    assert not appriseurl.accepts(f"slack://{secret}/bad channel")
    assert not appriseurl.accepts(f"nosuchscheme://{secret}")

    assert not any("secret-slack" in record.getMessage() for record in apprise_records)


CONFIG = """\
notifiers:
  bench: "json://127.0.0.1:9/hook"
accounts:
  - name: main
    provider: dhmad
    api_key: key-123456
"""

IMPORTED_BY_A_LOAD = """\
import json, sys
from balancewatch.config.load import load_config
load_config(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.startswith("apprise.plugins."))))
"""


def test_loading_a_config_imports_only_the_plugins_its_urls_name(tmp_path: Path) -> None:
    """In a fresh process: the json:// notifier costs one plugin module, not all of them."""
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)

    out = subprocess.run(
        [sys.executable, "-c", IMPORTED_BY_A_LOAD, str(config)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert json.loads(out) == ["apprise.plugins.base", "apprise.plugins.custom_json"]


# ---------------------------------------------------------------- provider URLs


def httpx_verdict(value: str) -> str:
    """The provider URL check as it was, with ``httpx.URL``: "ok" or the refusal."""
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        return "not a valid URL"
    if url.scheme not in ("http", "https") or not value.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    try:
        host = url.host
    except ValueError:  # idna.IDNAError for a bad xn-- host: refused, with idna's words
        return "not a valid international host name"
    if not host or any(c.isspace() for c in value):
        return "must name a host, with no spaces (e.g. https://api.example.com)"
    if url.port is not None and not 0 < url.port < 65536:
        return "the port must be between 1 and 65535"
    return "ok"


def verdict(value: str) -> str:
    try:
        check_http_url(value)
    except ValueError as error:
        return str(error)
    return "ok"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://api.example.com/v1", "ok"),
        ("http://127.0.0.1:8080/x?y=1#z", "ok"),
        ("https://[::1]:8443/", "ok"),
        ("https://user:pa%20ss@api.example.com/", "ok"),  # userinfo is allowed
        ("https://exämple.com/", "ok"),  # a non-ASCII host, IDNA-encoded by httpx
        ("https://bücher.example:443", "ok"),
        ("https://host:+80/", "ok"),  # httpx reads ports with int()
        ("https://ex\u00e4mple..com/", "not a valid URL"),  # not a valid IDNA name
        ("https://xn--zz.com/", "not a valid international host name"),
        ("https://www.xn--zz.com/", "ok"),  # httpx decodes only a host *starting* xn--
        ("http://999.1.1.1/", "not a valid URL"),
        ("http://01.2.3.4/", "not a valid URL"),
        ("http://[::g]/", "not a valid URL"),
        ("http://host:abc/", "not a valid URL"),
        ("http://exa\tmple.com", "not a valid URL"),
        ("http://example.com/\x7f", "not a valid URL"),
        ("http://" + "a" * 65536, "not a valid URL"),
        ("////x", "not a valid URL"),
        ("::x", "not a valid URL"),
        ("api.example.com/v1", "must start with http:// or https://"),
        ("ftp://example.com", "must start with http:// or https://"),
        ("HTTPS://api.example.com", "must start with http:// or https://"),
        (" https://api.example.com", "must start with http:// or https://"),
        ("https:api.example.com", "must start with http:// or https://"),
        ("ftp://xn--zz.com/", "must start with http:// or https://"),
        ("http://", "must name a host, with no spaces (e.g. https://api.example.com)"),
        ("http://user@:80/", "must name a host, with no spaces (e.g. https://api.example.com)"),
        ("http://exa mple.com", "must name a host, with no spaces (e.g. https://api.example.com)"),
        ("https://a.com/x y", "must name a host, with no spaces (e.g. https://api.example.com)"),
        ("https://a.com/\u00a0", "must name a host, with no spaces (e.g. https://api.example.com)"),
        ("http://example.com:0", "the port must be between 1 and 65535"),
        ("http://example.com:99999", "the port must be between 1 and 65535"),
        ("http://example.com:-1", "the port must be between 1 and 65535"),
    ],
)
def test_provider_urls_are_judged_as_httpx_judges_them(value: str, expected: str) -> None:
    assert verdict(value) == expected
    assert httpx_verdict(value) == expected


URL_CHARACTERS = st.sampled_from(list("aZ09-._~:/?#[]@!$&'()*+,;=% <>^\"`{}|\\\t\x7fäß\u00a0x-"))


@settings(max_examples=400, deadline=None)
@given(
    prefix=st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "", "//", "http:"]),
    rest=st.text(URL_CHARACTERS, max_size=30),
)
@example(prefix="http://", rest="[::1]80")
@example(prefix="http://", rest="a@b@c:8_0")
@example(prefix="http://", rest="xn--a b")
def test_any_provider_url_is_judged_as_httpx_judges_it(prefix: str, rest: str) -> None:
    assert verdict(prefix + rest) == httpx_verdict(prefix + rest)
