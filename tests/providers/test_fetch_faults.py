"""Every row of RELIABILITY.md's "Provider responses" table, over real sockets.

Unknown is never zero: whatever a provider (or the network in between) does, a poll
either yields exact finite Decimals or raises one of the typed errors of ``model.py``,
within its deadline, without unbounded memory, and without a credential in the text.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import trustme

from balancewatch.model import (
    AuthError,
    MalformedResponse,
    ProviderError,
    RateLimited,
    Snapshot,
    TransientError,
)
from balancewatch.providers import make_client
from balancewatch.providers._http.fetch import parse_retry_after
from balancewatch.providers.reading import MAX_RETRY_AFTER
from balancewatch.sim.server import FAULTS, PROVIDERS, SimServer, gzip_bomb_body
from tests.conftest import KEYS, THEDEX_SECRET, Reply, ScriptedServer, fetch_once, make_provider

Poll = Callable[..., Snapshot]
ProviderFor = Callable[..., Any]

DEADLINE = 0.5
MARGIN = 0.5


def failure(poll: Poll, provider: Any, **kwargs: Any) -> ProviderError:
    """The error a poll raises; the test fails if it returns a balance instead."""
    with pytest.raises(ProviderError) as caught:
        poll(provider, **kwargs)
    return caught.value


# ---------------------------------------------------------------- black hole, slow drip


@pytest.mark.parametrize("fault", ["drip", "hang"])
def test_drip_and_black_hole_are_cut_by_the_overall_deadline(
    sim: SimServer, provider_for: ProviderFor, fault: str
) -> None:
    """httpx's timeouts are per read, so a byte every 0.2 s would never trip them; the
    poll's own deadline ends it, for all four providers at once."""
    sim.set_fault(None, fault, interval=0.2)

    async def all_four() -> list[Any]:
        async with make_client() as client:
            polls = (
                fetch_once(provider_for(name), client=client, deadline=DEADLINE)
                for name in PROVIDERS
            )
            return await asyncio.gather(*polls, return_exceptions=True)

    started = time.monotonic()
    outcomes = asyncio.run(all_four())
    elapsed = time.monotonic() - started

    assert elapsed < DEADLINE + MARGIN
    for outcome in outcomes:
        assert isinstance(outcome, TransientError)
        assert f"no complete answer within {DEADLINE:g}s" in outcome.reason


# ---------------------------------------------------------------- 429


def test_429_with_retry_after_in_seconds(
    sim: SimServer, provider_for: ProviderFor, poll: Poll
) -> None:
    sim.set_fault(None, "rate_limited", retry_after=42)

    for name in PROVIDERS:
        error = failure(poll, provider_for(name))
        assert isinstance(error, RateLimited), name
        assert error.retry_after == 42
        assert not error.permanent


def test_429_with_retry_after_as_an_http_date(
    sim: SimServer, provider_for: ProviderFor, poll: Poll
) -> None:
    """An HTTP date 120 s ahead (1 s resolution) gives about 120 s from now."""
    sim.set_fault(None, "rate_limited", retry_after=120, retry_after_date=True)

    error = failure(poll, provider_for("sunor"))

    assert isinstance(error, RateLimited)
    assert error.retry_after is not None
    assert 118 <= error.retry_after <= 120


def test_dhmad_retry_after_in_the_body_counts_when_no_header_is_sent(
    sim: SimServer, provider_for: ProviderFor, poll: Poll
) -> None:
    """Dhmad documents `{"retryAfter": 3600}` in the 429 body, not a header."""
    sim.set_fault(None, "rate_limited", retry_after=77, retry_after_header=False)

    error = failure(poll, provider_for("dhmad"))

    assert isinstance(error, RateLimited)
    assert error.retry_after == 77


def test_429_without_any_hint_is_rate_limited_with_no_retry_after(
    sim: SimServer, provider_for: ProviderFor, poll: Poll
) -> None:
    """Sunor without the header: the caller falls back to its own backoff."""
    sim.set_fault(None, "rate_limited", retry_after_header=False)

    error = failure(poll, provider_for("sunor"))

    assert isinstance(error, RateLimited)
    assert error.retry_after is None


def test_retry_after_is_capped(sim: SimServer, provider_for: ProviderFor, poll: Poll) -> None:
    """A server asking for a day of silence gets an hour: we would rather ask again."""
    sim.set_fault(None, "rate_limited", retry_after=86_400)

    for name in ("dhmad", "sunor"):
        error = failure(poll, provider_for(name))
        assert error.retry_after == MAX_RETRY_AFTER


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("-5", None),
        ("1.5", None),
        ("\u00b2", None),  # '²'.isdigit() is True, and int() refuses it
        ("soon", None),
        ("", None),
        (None, None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # already past: no wait, never negative
    ],
)
def test_parse_retry_after_reads_seconds_or_dates_and_never_raises(
    value: str | None, expected: float | None
) -> None:
    assert parse_retry_after(value, time.time()) == expected


def test_parse_retry_after_reads_an_http_date_relative_to_now() -> None:
    now = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    when = format_datetime(now + timedelta(seconds=90), usegmt=True)

    assert parse_retry_after(when, now.timestamp()) == 90.0


# ---------------------------------------------------------------- transient


@pytest.mark.parametrize("fault", ["http500", "http503", "reset", "truncate"])
def test_server_errors_resets_and_truncation_are_transient(
    sim: SimServer, provider_for: ProviderFor, poll: Poll, fault: str
) -> None:
    sim.set_fault(None, fault)

    for name in PROVIDERS:
        error = failure(poll, provider_for(name))
        assert type(error) is TransientError, (name, error)
        assert not error.permanent


def test_connection_refused_is_transient(poll: Poll) -> None:
    """A port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = make_provider("sunor", api_key="k" * 12, base_url=f"http://127.0.0.1:{port}")

    error = failure(poll, provider)

    assert type(error) is TransientError
    assert "could not connect" in error.reason


def test_dns_failure_is_transient(poll: Poll) -> None:
    """`.invalid` never resolves (RFC 6761); no network is needed to see it fail."""
    provider = make_provider(
        "oneclickdz", api_key="k" * 12, base_url="https://balancewatch-test.invalid"
    )

    error = failure(poll, provider, deadline=5.0)

    assert type(error) is TransientError


@pytest.fixture(scope="module")
def untrusted_https() -> Iterator[tuple[ScriptedServer, trustme.CA]]:
    """An HTTPS server whose certificate comes from a CA nobody trusts."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = ScriptedServer(context)
    server.reply = Reply(body=b'{"code": 200, "data": {"available": 5}}')
    try:
        yield server, ca
    finally:
        server.close()


def test_tls_failure_is_transient(
    untrusted_https: tuple[ScriptedServer, trustme.CA], poll: Poll
) -> None:
    server, _ca = untrusted_https
    provider = make_provider("sunor", api_key="k" * 12, base_url=server.url)

    error = failure(poll, provider)

    assert type(error) is TransientError
    assert "CERTIFICATE_VERIFY_FAILED" in error.reason


def test_the_same_tls_server_answers_a_client_that_trusts_its_ca(
    untrusted_https: tuple[ScriptedServer, trustme.CA],
) -> None:
    """The control for the test above: the failure is the certificate, nothing else."""
    server, ca = untrusted_https
    provider = make_provider("sunor", api_key="k" * 12, base_url=server.url)
    context = ssl.create_default_context()
    ca.configure_trust(context)

    async def trusted() -> Snapshot:
        async with make_client(verify=context) as client:
            return await fetch_once(provider, client=client)

    assert str(asyncio.run(trusted()).balances["CREDITS"].available) == "5"


# ---------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    ("fault", "params", "says"),
    [
        ("html", {}, "text/html, not JSON"),
        ("empty", {}, "empty"),
        ("wrong_content_type", {}, "text/plain, not JSON"),
        ("garbage", {}, "not UTF-8"),
        ("nan", {}, "NaN"),
        ("infinity", {}, "Infinity"),
        ("huge", {}, "out of range"),
        ("bool", {}, "not an amount"),
        ("deep", {}, "nests deeper"),
        ("deep", {"depth": 65}, "nests deeper"),
        ("long_number", {}, "too long"),
        ("long_number", {"digits": 65}, "too long"),
    ],
)
def test_bodies_that_are_not_balances_are_malformed(
    sim: SimServer,
    provider_for: ProviderFor,
    poll: Poll,
    fault: str,
    params: dict[str, Any],
    says: str,
) -> None:
    """HTML error pages, empty bodies, NaN (`NaN < 100` is False: it would never alert),
    `true` (an int in Python), 100k-deep nesting (RecursionError) and 5000-digit numbers
    are all a MalformedResponse, never a balance, never another exception."""
    sim.set_fault(None, fault, **params)

    for name in PROVIDERS:
        error = failure(poll, provider_for(name))
        assert type(error) is MalformedResponse, (name, error)
        assert says in error.reason, (name, error.reason)


@pytest.mark.parametrize("token", ["nan", "infinity", "huge", "bool", "long_number"])
def test_thedex_string_amounts_that_are_not_finite_numbers_are_malformed(
    sim: SimServer, provider_for: ProviderFor, poll: Poll, token: str
) -> None:
    """TheDex sends amounts as strings: `"NaN"`, `"Infinity"`, `"1e400"`, `"true"`."""
    sim.set_fault(KEYS["thedex"], token, quoted=True)

    error = failure(poll, provider_for("thedex"))

    assert type(error) is MalformedResponse


def test_content_type_is_matched_without_regard_to_case(
    scripted: ScriptedServer, poll: Poll
) -> None:
    """Media types are case-insensitive (RFC 9110): `Application/JSON` is JSON."""
    scripted.reply = Reply(
        body=b'{"code": 200, "data": {"available": 3}}',
        headers={"Content-Type": "Application/JSON; Charset=UTF-8"},
    )
    provider = make_provider("sunor", api_key="k" * 12, base_url=scripted.url)

    assert str(poll(provider).balances["CREDITS"].available) == "3"


def test_an_unreadable_body_on_a_401_still_says_auth(scripted: ScriptedServer, poll: Poll) -> None:
    """The status already says what happened; a body we will not decode does not turn a
    rejected key into a "malformed response"."""
    scripted.reply = Reply(
        401, b"\x00\x01", {"Content-Type": "application/json", "Content-Encoding": "br"}
    )
    provider = make_provider("dhmad", api_key="k" * 12, base_url=scripted.url)

    assert type(failure(poll, provider)) is AuthError


# ---------------------------------------------------------------- gzip bomb


def test_gzip_bomb_is_malformed(sim: SimServer, provider_for: ProviderFor, poll: Poll) -> None:
    sim.set_fault(None, "gzip_bomb")

    error = failure(poll, provider_for("dhmad"))

    assert type(error) is MalformedResponse
    assert "larger than" in error.reason


BOMB_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, resource, sys
    from datetime import UTC, datetime
    from balancewatch.model import ProviderError
    from balancewatch.providers import get_provider
    from balancewatch.providers import fetch, make_client

    def provider(key):
        cls = get_provider("sunor")
        return cls(cls.Settings.model_validate({"api_key": key, "base_url": sys.argv[1]}))

    async def main():
        async with make_client() as client:
            now = datetime.now(UTC)
            await fetch(provider(sys.argv[2]), client, account="a", now=now, deadline=10)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            try:
                await fetch(provider(sys.argv[3]), client, account="a", now=now, deadline=10)
                outcome = "balance"
            except ProviderError as exc:
                outcome = type(exc).__name__
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"outcome": outcome, "growth_kib": after - before}))

    asyncio.run(main())
    """
)


def test_gzip_bomb_costs_at_most_16_mib_of_memory(sim: SimServer) -> None:
    """199 KiB of gzip inflating to 200 MiB: a plain `client.get()` grew RSS by 216 MiB.

    Measured in a fresh process (peak RSS only ever grows, so earlier tests would mask
    it), after one ordinary poll has loaded everything a poll needs.
    """
    bomb_key = "sunor-bomb-0123456789"
    sim.add_account("sunor", bomb_key)
    sim.set_fault(bomb_key, "gzip_bomb")
    gzip_bomb_body()  # built once here, so the child does not wait for it
    command = [sys.executable, "-c", BOMB_SCRIPT, sim.base_url("sunor"), KEYS["sunor"], bomb_key]

    run = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["outcome"] == "MalformedResponse"
    assert result["growth_kib"] <= 16 * 1024


# ---------------------------------------------------------------- 401/403


@pytest.mark.parametrize("fault", ["auth", "forbidden"])
def test_401_and_403_are_permanent_auth_errors(
    sim: SimServer, provider_for: ProviderFor, poll: Poll, fault: str
) -> None:
    """OneClickDz locks the whole IP after a few bad keys: these must never be retried
    in a loop, so they carry `permanent` and no retry hint."""
    sim.set_fault(None, fault)

    for name in PROVIDERS:
        error = failure(poll, provider_for(name))
        assert type(error) is AuthError, (name, error)
        assert error.permanent
        assert error.retry_after is None
        assert ("401" if fault == "auth" else "403") in error.reason


def test_oneclickdz_lockout_after_bad_keys_is_an_auth_error_too(
    sim: SimServer, provider_for: ProviderFor, poll: Poll
) -> None:
    """After five rejected keys the simulator blocks the IP (403 IP_BLOCKED): even the
    right key then gets an AuthError, which is why one bad key must not be retried."""
    for attempt in range(5):
        failure(poll, provider_for("oneclickdz", api_key=f"bad-key-{attempt:04d}-xyz"))

    error = failure(poll, provider_for("oneclickdz"))

    assert type(error) is AuthError
    assert "IP_BLOCKED" in error.reason


def test_no_fault_leaves_a_credential_in_the_error_text(
    sim: SimServer, provider_for: ProviderFor, poll: Poll
) -> None:
    """Every fault the simulator knows (but the two slow ones, whose text is our own),
    every provider: the key and the TheDex secret never appear in the message."""
    secrets = [*KEYS.values(), THEDEX_SECRET]
    for fault in FAULTS:
        if fault in ("drip", "hang"):
            continue
        sim.set_fault(None, fault)
        for name in PROVIDERS:
            error = failure(poll, provider_for(name))
            for secret in secrets:
                assert secret not in str(error), (fault, name)
