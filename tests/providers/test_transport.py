"""The shared client's aiohttp transport: what goes on the wire, proxies, errors, reuse."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from balancewatch import __version__
from balancewatch.model import MalformedResponse, Snapshot, TransientError
from balancewatch.providers import Provider, fetch, make_client
from balancewatch.providers._http.transport import SharedClient
from balancewatch.sim.server import SimServer
from tests.conftest import KEYS, NOW, Reply, ScriptedServer, fetch_once, make_provider

ProviderFor = Callable[..., Provider]
SUNOR_OK = b'{"code": 200, "data": {"available": 5}}'


def sunor_at(url: str) -> Provider:
    return make_provider("sunor", api_key=KEYS["sunor"], base_url=url)


def test_the_request_goes_out_as_the_provider_built_it(
    scripted: ScriptedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Method, path, the provider's headers, identity encoding; nothing from ~/.netrc."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-for-providers\n")
    monkeypatch.setenv("NETRC", str(netrc))
    scripted.reply = Reply(body=SUNOR_OK)
    provider = sunor_at(scripted.url)
    built = provider.build_request(NOW)

    asyncio.run(fetch_once(provider))

    (got,) = scripted.received
    assert got.method == built.method
    assert scripted.url + got.path == built.url
    for name, value in built.headers.items():
        assert got.headers[name.lower()] == value
    assert got.headers["accept-encoding"] == "identity"
    netrc_basic = base64.b64encode(b"someone:not-for-providers").decode()
    assert not any(netrc_basic in v or "not-for-providers" in v for v in got.headers.values())
    assert "cookie" not in got.headers


def test_thedex_posts_its_signed_body(sim: SimServer, provider_for: ProviderFor) -> None:
    """The simulator checks TheDex's HMAC over the exact body bytes sent."""
    snapshot = asyncio.run(fetch_once(provider_for("thedex", currency="USDT_TRON")))
    assert snapshot.balances


def test_a_proxy_from_the_environment_is_used_with_its_credentials(
    scripted: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted.reply = Reply(body=SUNOR_OK)
    proxy = scripted.url.replace("http://", "http://relay:s3cret@")
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    provider = sunor_at("http://balances.example.test/api")

    snapshot = asyncio.run(fetch_once(provider))

    assert str(snapshot.balances["CREDITS"].available) == "5"
    (got,) = scripted.received
    assert got.path.startswith("http://balances.example.test/api")  # absolute form: a proxy
    expected = "Basic " + base64.b64encode(b"relay:s3cret").decode()
    assert got.headers["proxy-authorization"] == expected


def test_no_proxy_hosts_are_reached_directly(
    scripted: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted.reply = Reply(body=SUNOR_OK)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # discard port: would fail
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    asyncio.run(fetch_once(sunor_at(scripted.url)))

    (got,) = scripted.received
    assert got.path.startswith("/")


def test_a_body_cut_off_at_the_cap_never_answers_the_next_request(
    scripted: ScriptedServer,
) -> None:
    """The half-read connection is closed, not pooled: the next poll gets its own answer."""
    big = b'{"code": 200, "data": {"available": 5}, "pad": "' + b"x" * 300_000 + b'"}'
    answers = iter([Reply(body=big), Reply(body=SUNOR_OK)])
    scripted.answer = lambda _got: next(answers)
    provider = sunor_at(scripted.url)

    async def twice() -> tuple[BaseException | Snapshot, Snapshot]:
        async with make_client() as client:
            try:
                first: BaseException | Snapshot = await fetch(
                    provider, client, account="a", now=NOW, deadline=5, max_bytes=1000
                )
            except MalformedResponse as exc:
                first = exc
            second = await fetch(provider, client, account="a", now=NOW, deadline=5)
            return first, second

    first, second = asyncio.run(twice())

    assert isinstance(first, MalformedResponse)
    assert "larger than 1000 bytes" in first.reason
    assert str(second.balances["CREDITS"].available) == "5"


def test_connections_are_reused_between_polls(sim: SimServer, provider_for: ProviderFor) -> None:
    provider = provider_for("sunor")

    async def many() -> None:
        async with make_client() as client:
            for _ in range(20):
                await fetch(provider, client, account="a", now=NOW, deadline=5)

    before = sim.connections_accepted
    asyncio.run(many())
    assert sim.connections_accepted - before == 1


def test_one_client_serves_all_four_providers_concurrently(
    sim: SimServer, provider_for: ProviderFor
) -> None:
    """The daemon shares one client; concurrent polls over it keep their own answers."""

    async def all_four() -> list[Snapshot]:
        async with make_client() as client:
            return await asyncio.gather(
                *(fetch_once(provider_for(name), client=client) for name in KEYS)
            )

    snapshots = asyncio.run(all_four())

    assert [sorted(s.balances) for s in snapshots] == [
        ["TND"],
        ["DZD"],
        ["BTC_BITCOIN", "USDT_TRON"],
        ["CREDITS"],
    ]


@pytest.mark.parametrize(
    ("fault", "says"),
    [("reset", "connection"), ("truncate", "closed mid-answer")],
)
def test_broken_connections_are_named_for_what_happened(
    sim: SimServer, provider_for: ProviderFor, fault: str, says: str
) -> None:
    sim.set_fault(None, fault)
    with pytest.raises(TransientError) as caught:
        asyncio.run(fetch_once(provider_for("sunor")))
    assert says in caught.value.reason


def test_the_shared_client_adds_its_defaults_and_the_provider_overrides_them() -> None:
    """Request building, seen through httpx's MockTransport (no network)."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    async def send() -> int:
        async with SharedClient(httpx.MockTransport(answer), timeout=7.0) as client:
            request = client.request("GET", "https://api.example/b?x=1", {"Accept": "a/b"}, None)
            response = await client.send(request)
            await response.aread()
            return response.status_code

    assert asyncio.run(send()) == 200
    (request,) = seen
    assert request.headers["user-agent"] == f"balancewatch/{__version__}"
    assert request.headers["accept"] == "a/b"
    assert request.headers["accept-encoding"] == "identity"
    assert request.extensions["timeout"] == {"connect": 7.0, "read": 7.0, "write": 7.0, "pool": 7.0}
