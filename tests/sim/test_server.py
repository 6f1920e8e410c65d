"""The simulated providers speak the documented wire formats and fail in the ways they promise.

Every test talks to a real :class:`SimServer` over loopback with httpx (or a raw socket
where httpx would hide the detail under test).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import socket
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from balancewatch.sim.server import FAULTS, PROVIDERS, SimServer

PATHS = {
    "dhmad": "/api/v1/balance",
    "oneclickdz": "/v3/account/balance",
    "thedex": "/api/v1/balances",
    "sunor": "/api/v1/account/balance",
}
README_SECRET = "test_secret_key"
README_BODY = b'{"request":"/api/v1/balances","nonce":"1700000000000"}'
README_PAYLOAD = "eyJyZXF1ZXN0IjoiL2FwaS92MS9iYWxhbmNlcyIsIm5vbmNlIjoiMTcwMDAwMDAwMDAwMCJ9"
README_SIGNATURE = (
    "096d212ecd2af41e305e220bb2d8c41a05d0ad5f7acda1d8524e71b46ef2a65d"
    "87fc8f44f00cf90a647ca86e4dc955fcb9e46b7ac962947514a64ed2c02e24a3"
)
AMOUNT: dict[str, Callable[[Any], Any]] = {
    "dhmad": lambda d: d["balance"]["available"],
    "oneclickdz": lambda d: d["data"]["balance"],
    "thedex": lambda d: d[0]["BTC_BITCOIN"]["availableBalance"],
    "sunor": lambda d: d["data"]["available"],
}


def sign(secret: str, body: bytes) -> dict[str, str]:
    payload = base64.b64encode(body).decode("ascii")
    signature = hmac.new(secret.encode(), payload.encode("ascii"), hashlib.sha512).hexdigest()
    return {"X-EX-PAYLOAD": payload, "X-EX-SIGNATURE": signature}


def thedex_body(request: str = "/api/v1/balances", nonce: object = "1700000000000") -> bytes:
    return json.dumps({"request": request, "nonce": nonce}, separators=(",", ":")).encode()


def fetch(
    client: httpx.Client, sim: SimServer, provider: str, key: str, **headers: str
) -> httpx.Response:
    """One balance request with the provider's auth (TheDex signed with ``secret-<key>``)."""
    url = sim.base_url(provider) + PATHS[provider]
    if provider == "thedex":
        body = thedex_body()
        signed = {"X-EX-APIKEY": key, **sign(f"secret-{key}", body), **headers}
        return client.post(url, content=body, headers=signed)
    auth = {"dhmad": "Authorization", "oneclickdz": "X-Access-Token", "sunor": "x-api-key"}
    value = f"Bearer {key}" if provider == "dhmad" else key
    return client.get(url, headers={auth[provider]: value, **headers})


def parse(response: httpx.Response) -> Any:
    return json.loads(response.content, parse_float=Decimal)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[SimServer]:
    server = SimServer(clock=clock)
    for provider in PROVIDERS:
        server.add_account(provider, f"key-{provider}")
    with server:
        yield server
    assert server.loop_errors == []


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


# ---------------------------------------------------------------- success bodies


def test_dhmad_success_body_is_the_documented_one(sim: SimServer, client: httpx.Client) -> None:
    """Dhmad answers {"balance": {available, pending, escrow}} as exact JSON numbers, to Bearer or X-API-Key."""
    response = fetch(client, sim, "dhmad", "key-dhmad")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.text == '{"balance":{"available":1500.50,"pending":200.00,"escrow":500.25}}'
    expected = {
        "balance": {
            "available": Decimal("1500.50"),
            "pending": Decimal("200.00"),
            "escrow": Decimal("500.25"),
        }
    }
    assert parse(response) == expected
    url = sim.base_url("dhmad") + PATHS["dhmad"]
    assert parse(client.get(url, headers={"X-API-Key": "key-dhmad"})) == expected


def test_oneclickdz_success_body(sim: SimServer, client: httpx.Client) -> None:
    """OneClickDz answers success:true, data.balance as a number and a meta.timestamp."""
    body = parse(fetch(client, sim, "oneclickdz", "key-oneclickdz"))
    assert body["success"] is True
    assert body["data"] == {"balance": Decimal("1326.13")}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["meta"]["timestamp"])


def test_sunor_success_body(sim: SimServer, client: httpx.Client) -> None:
    """Sunor answers {"code":200,"data":{available,frozen,total}} with total = available + frozen."""
    response = fetch(client, sim, "sunor", "key-sunor")
    assert response.text == '{"code":200,"data":{"available":950,"frozen":10,"total":960}}'


def test_thedex_accepts_the_readme_test_vector(sim: SimServer, client: httpx.Client) -> None:
    """A request signed exactly as the README's vector succeeds and lists string amounts."""
    assert sign(README_SECRET, README_BODY) == {
        "X-EX-PAYLOAD": README_PAYLOAD,
        "X-EX-SIGNATURE": README_SIGNATURE,
    }
    sim.add_account("thedex", "dex-readme", secret=README_SECRET)
    headers = {
        "X-EX-APIKEY": "dex-readme",
        "X-EX-PAYLOAD": README_PAYLOAD,
        "X-EX-SIGNATURE": README_SIGNATURE,
        "Content-Type": "application/json",
    }
    response = client.post(
        sim.base_url("thedex") + PATHS["thedex"], content=README_BODY, headers=headers
    )
    assert response.status_code == 200
    assert parse(response) == [
        {
            "BTC_BITCOIN": {
                "totalBalance": "0.00120000",
                "holdBalance": "0.00000000",
                "availableBalance": "0.00120000",
            }
        },
        {
            "USDT_TRON": {
                "totalBalance": "300.00000000",
                "holdBalance": "50.00000000",
                "availableBalance": "250.00000000",
            }
        },
    ]


def test_thedex_accepts_a_numeric_nonce(sim: SimServer, client: httpx.Client) -> None:
    """The nonce may be a JSON number of milliseconds, as some public clients send it."""
    body = thedex_body(nonce=1700000000000)
    headers = {"X-EX-APIKEY": "key-thedex", **sign("secret-key-thedex", body)}
    url = sim.base_url("thedex") + PATHS["thedex"]
    assert client.post(url, content=body, headers=headers).status_code == 200


def _bad_signature(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    flipped = "0" if headers["X-EX-SIGNATURE"][0] != "0" else "1"
    return {**headers, "X-EX-SIGNATURE": flipped + headers["X-EX-SIGNATURE"][1:]}, body


@pytest.mark.parametrize(
    ("case", "tamper", "reason"),
    [
        ("wrong signature", _bad_signature, "X-EX-SIGNATURE"),
        (
            "uppercase signature",
            lambda h, b: ({**h, "X-EX-SIGNATURE": h["X-EX-SIGNATURE"].upper()}, b),
            "X-EX-SIGNATURE",
        ),
        ("payload of another body", lambda h, b: (h, b + b" "), "X-EX-PAYLOAD"),
        (
            "wrong request field",
            lambda h, b: (sign(README_SECRET, thedex_body("/api/v1/x")), thedex_body("/api/v1/x")),
            '"request"',
        ),
        (
            "missing nonce",
            lambda h, b: (
                sign(README_SECRET, b'{"request":"/api/v1/balances"}'),
                b'{"request":"/api/v1/balances"}',
            ),
            '"nonce"',
        ),
        ("body not JSON", lambda h, b: (sign(README_SECRET, b"nope"), b"nope"), "JSON"),
        ("missing signature", lambda h, b: ({"X-EX-PAYLOAD": h["X-EX-PAYLOAD"]}, b), "missing"),
        (
            "signed with another secret",
            lambda h, b: (sign("other-secret", b), b),
            "X-EX-SIGNATURE",
        ),
    ],
)
def test_thedex_rejects_bad_signatures_with_401(
    sim: SimServer,
    client: httpx.Client,
    case: str,
    tamper: Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]],
    reason: str,
) -> None:
    """Each failed check gives 401 naming the check, never echoing the secret."""
    sim.add_account("thedex", "dex-readme", secret=README_SECRET)
    headers, body = tamper(sign(README_SECRET, README_BODY), README_BODY)
    headers = {"X-EX-APIKEY": "dex-readme", **headers}
    response = client.post(sim.base_url("thedex") + PATHS["thedex"], content=body, headers=headers)
    assert response.status_code == 401, case
    payload = response.json()
    assert payload["message"] == "Invalid signature, api key or payload header"
    assert reason in payload["reason"]
    assert README_SECRET not in response.text


def test_thedex_shapes(sim: SimServer, client: httpx.Client) -> None:
    """thedex_shape "dict" answers one object; "duplicate" lists each currency twice in halves."""
    sim.add_account("thedex", "dex-dict", thedex_shape="dict")
    body = parse(fetch(client, sim, "thedex", "dex-dict"))
    assert set(body) == {"BTC_BITCOIN", "USDT_TRON"}
    assert body["USDT_TRON"]["availableBalance"] == "250.00000000"

    sim.add_account("thedex", "dex-dup", thedex_shape="duplicate")
    entries = parse(fetch(client, sim, "thedex", "dex-dup"))
    assert [next(iter(entry)) for entry in entries] == ["BTC_BITCOIN"] * 2 + ["USDT_TRON"] * 2
    sums: dict[str, dict[str, Decimal]] = {}
    for entry in entries:
        ((currency, fields),) = entry.items()
        for name, text in fields.items():
            sums.setdefault(currency, {}).setdefault(name, Decimal(0))
            sums[currency][name] += Decimal(text)
    assert sums["USDT_TRON"] == {
        "totalBalance": Decimal(300),
        "holdBalance": Decimal(50),
        "availableBalance": Decimal(250),
    }
    assert sums["BTC_BITCOIN"]["availableBalance"] == Decimal("0.0012")


def test_custom_balances_and_set_balance(sim: SimServer, client: httpx.Client) -> None:
    """Balances accept Decimal/int/str and kind aliases; set_balance edits or adds a currency."""
    sim.add_account(
        "sunor", "sun-2", balances={"CREDITS": {"available": 5, "frozen": "1.5", "total": 9}}
    )
    assert parse(fetch(client, sim, "sunor", "sun-2"))["data"] == {
        "available": 5,
        "frozen": Decimal("1.5"),
        "total": 9,
    }
    sim.set_balance("key-dhmad", available=Decimal("0.001"), escrow=7)
    assert parse(fetch(client, sim, "dhmad", "key-dhmad"))["balance"] == {
        "available": Decimal("0.001"),
        "pending": Decimal("200.00"),
        "escrow": 7,
    }
    sim.set_balance("key-thedex", "ETH_ETHEREUM", available="1.25", held="0.25")
    entries = parse(fetch(client, sim, "thedex", "key-thedex"))
    assert entries[-1] == {
        "ETH_ETHEREUM": {"totalBalance": "1.50", "holdBalance": "0.25", "availableBalance": "1.25"}
    }
    with pytest.raises(TypeError):
        sim.set_balance("key-dhmad", available=1.5)  # type: ignore[arg-type]


def test_drain_lowers_the_balance_per_success_and_stops_at_zero(
    sim: SimServer, client: httpx.Client
) -> None:
    """Each successful request shows the balance, then lowers it; never below zero; faults do not drain."""
    sim.add_account("sunor", "sun-d", balances={"CREDITS": {"available": 100, "held": 10}})
    sim.set_drain("sun-d", Decimal(30))
    seen = [parse(fetch(client, sim, "sunor", "sun-d"))["data"] for _ in range(3)]
    assert [d["available"] for d in seen] == [100, 70, 40]
    assert [d["total"] for d in seen] == [110, 80, 50]
    sim.set_fault("sun-d", "http500")
    fetch(client, sim, "sunor", "sun-d")
    sim.set_fault("sun-d", None)
    values = [parse(fetch(client, sim, "sunor", "sun-d"))["data"]["available"] for _ in range(3)]
    assert values == [10, 0, 0]


# ---------------------------------------------------------------- auth errors


def test_wrong_key_gives_each_providers_documented_401(
    sim: SimServer, client: httpx.Client
) -> None:
    """An unknown key gets the provider's own 401 body."""
    expected = {
        "dhmad": {"error": "Unauthorized", "message": "Invalid or expired API key"},
        "sunor": {"code": 401, "message": "Invalid API key"},
    }
    for provider in PROVIDERS:
        response = fetch(client, sim, provider, "not-a-key")
        assert response.status_code == 401, provider
        body = response.json()
        if provider in expected:
            assert body == expected[provider]
        elif provider == "thedex":
            assert body["message"] == "Invalid signature, api key or payload header"
        else:
            assert body["success"] is False
            assert body["requestId"].startswith("req_")
            assert body["error"] == {
                "code": "INVALID_ACCESS_TOKEN",
                "message": "The provided access token is invalid",
                "details": {"attemptsLeft": 4},
            }


def test_key_of_another_provider_is_unknown(sim: SimServer, client: httpx.Client) -> None:
    """A Sunor key sent to Dhmad is a bad key there."""
    assert fetch(client, sim, "dhmad", "key-sunor").status_code == 401


def test_oneclickdz_locks_the_ip_after_five_bad_keys(
    sim: SimServer, client: httpx.Client, clock: FakeClock
) -> None:
    """Five bad keys count attemptsLeft down to 0; then every key gets 403 IP_BLOCKED for 15 min."""
    left = [
        fetch(client, sim, "oneclickdz", f"bad-{i}").json()["error"]["details"]["attemptsLeft"]
        for i in range(5)
    ]
    assert left == [4, 3, 2, 1, 0]
    blocked = fetch(client, sim, "oneclickdz", "key-oneclickdz")
    assert blocked.status_code == 403
    assert blocked.json()["error"] == {
        "code": "IP_BLOCKED",
        "message": "Your IP has been temporarily blocked due to too many invalid attempts",
    }
    assert fetch(client, sim, "sunor", "key-sunor").status_code == 200  # other providers unaffected
    clock.now += 15 * 60 - 1
    assert fetch(client, sim, "oneclickdz", "key-oneclickdz").status_code == 403
    clock.now += 1
    assert fetch(client, sim, "oneclickdz", "key-oneclickdz").status_code == 200
    second = fetch(client, sim, "oneclickdz", "bad-again").json()
    assert second["error"]["details"] == {"attemptsLeft": 4}  # the count starts afresh


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("fault", "status"), [("http500", 500), ("http503", 503), ("auth", 401), ("forbidden", 403)]
)
def test_status_faults_use_the_providers_error_shape(
    sim: SimServer, client: httpx.Client, provider: str, fault: str, status: int
) -> None:
    """http500/http503/auth/forbidden answer that status with the provider's error envelope."""
    sim.set_fault(f"key-{provider}", fault)
    response = fetch(client, sim, provider, f"key-{provider}")
    assert response.status_code == status
    body = response.json()
    if provider == "dhmad":
        assert set(body) == {"error", "message"}
    elif provider == "oneclickdz":
        assert body["success"] is False
        assert set(body["error"]) >= {"code", "message"}
    elif provider == "sunor":
        assert body["code"] == status
    else:
        assert isinstance(body["message"], str)
    if (provider, fault) == ("oneclickdz", "http500"):
        assert body["error"]["code"] == "INTERNAL_SERVER_ERROR"
    if (provider, fault) == ("sunor", "http500"):
        assert body == {"code": 500, "message": "Internal server error"}


def test_rate_limited_with_seconds(sim: SimServer, client: httpx.Client) -> None:
    """429 carries Retry-After in seconds; Dhmad also puts retryAfter in the body, Sunor in the text."""
    sim.set_fault(None, "rate_limited", retry_after=42)
    dhmad = fetch(client, sim, "dhmad", "key-dhmad")
    assert dhmad.status_code == 429
    assert dhmad.headers["retry-after"] == "42"
    assert dhmad.json() == {
        "error": "Too Many Requests",
        "message": "Rate limit exceeded. Please try again later.",
        "retryAfter": 42,
    }
    sunor = fetch(client, sim, "sunor", "key-sunor")
    assert sunor.json() == {"code": 429, "message": "Rate limit exceeded. Try again in 42 seconds."}
    ocd = fetch(client, sim, "oneclickdz", "key-oneclickdz").json()
    assert ocd["error"]["code"] == "RATE_LIMIT_EXCEEDED"


def test_rate_limited_with_http_date_or_no_header(sim: SimServer, client: httpx.Client) -> None:
    """retry_after_date=True sends an HTTP date that far ahead; retry_after_header=False sends none."""
    sim.set_fault("key-sunor", "rate_limited", retry_after=120, retry_after_date=True)
    response = fetch(client, sim, "sunor", "key-sunor")
    when = parsedate_to_datetime(response.headers["retry-after"])
    assert response.headers["retry-after"].endswith(" GMT")
    assert 115 <= (when - datetime.now(UTC)).total_seconds() <= 121
    sim.set_fault("key-dhmad", "rate_limited", retry_after=5, retry_after_header=False)
    response = fetch(client, sim, "dhmad", "key-dhmad")
    assert "retry-after" not in response.headers
    assert response.json()["retryAfter"] == 5


def test_non_json_faults(sim: SimServer, client: httpx.Client) -> None:
    """html, empty and garbage answer 200 with bodies that are not JSON; wrong_content_type is text/plain."""
    sim.set_fault("key-dhmad", "html")
    html = fetch(client, sim, "dhmad", "key-dhmad")
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "<html>" in html.text
    sim.set_fault("key-dhmad", "empty")
    assert fetch(client, sim, "dhmad", "key-dhmad").content == b""
    sim.set_fault("key-dhmad", "garbage")
    garbage = fetch(client, sim, "dhmad", "key-dhmad")
    assert len(garbage.content) > 1000
    with pytest.raises(ValueError):
        json.loads(garbage.content)
    sim.set_fault("key-sunor", "wrong_content_type")
    plain = fetch(client, sim, "sunor", "key-sunor")
    assert plain.headers["content-type"].startswith("text/plain")
    assert plain.json()["data"]["available"] == 950
    for response in (html, garbage):
        with pytest.raises(ValueError):
            json.loads(response.content)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("fault", "literal"),
    [("nan", "NaN"), ("infinity", "Infinity"), ("huge", "1e400"), ("bool", "true")],
)
def test_amount_faults_put_the_literal_where_the_amount_belongs(
    sim: SimServer, client: httpx.Client, provider: str, fault: str, literal: str
) -> None:
    """The main amount is the bare JSON token NaN / Infinity / 1e400 / true."""
    sim.set_fault(f"key-{provider}", fault)
    response = fetch(client, sim, provider, f"key-{provider}")
    assert response.status_code == 200
    body = json.loads(
        response.content,
        parse_constant=lambda c: f"constant {c}",
        parse_float=lambda f: f"float {f}",
    )
    expected = {"NaN": "constant NaN", "Infinity": "constant Infinity", "1e400": "float 1e400"}
    assert AMOUNT[provider](body) == expected.get(literal, True)


def test_thedex_amount_fault_can_be_quoted(sim: SimServer, client: httpx.Client) -> None:
    """quoted=True makes TheDex send the literal as a string, e.g. "NaN"."""
    sim.set_fault("key-thedex", "nan", quoted=True)
    body = fetch(client, sim, "thedex", "key-thedex").json()
    assert body[0]["BTC_BITCOIN"]["availableBalance"] == "NaN"


def test_deep_and_long_number_break_naive_parsers(sim: SimServer, client: httpx.Client) -> None:
    """deep nests 100,000 arrays (RecursionError); long_number is 5000 digits (ValueError)."""
    sim.set_fault("key-dhmad", "deep")
    deep = fetch(client, sim, "dhmad", "key-dhmad")
    assert deep.text.count("[") == 100_000
    with pytest.raises(RecursionError):
        json.loads(deep.content)
    sim.set_fault("key-oneclickdz", "long_number")
    long = fetch(client, sim, "oneclickdz", "key-oneclickdz")
    digits = re.search(rb'"balance":(\d+)', long.content)
    assert digits is not None
    assert len(digits.group(1)) == 5000
    with pytest.raises(ValueError):
        json.loads(long.content)


def test_gzip_bomb_is_small_on_the_wire_and_huge_inflated(
    sim: SimServer, client: httpx.Client
) -> None:
    """About 200 KiB of gzip that inflates to 200 MiB of spaces."""
    sim.set_fault("key-sunor", "gzip_bomb")
    url = sim.base_url("sunor") + PATHS["sunor"]
    with client.stream("GET", url, headers={"x-api-key": "key-sunor"}) as response:
        assert response.headers["content-encoding"] == "gzip"
        raw = b"".join(response.iter_raw())
    assert 150 * 1024 < len(raw) < 260 * 1024
    inflater, total, chunk = zlib.decompressobj(31), 0, raw
    first = inflater.decompress(chunk, 1 << 20)
    assert first == b" " * (1 << 20)
    total += len(first)
    while not inflater.eof:
        out = inflater.decompress(inflater.unconsumed_tail, 8 << 20)
        assert out.strip() == b""
        total += len(out)
    assert total == 200 * 1024 * 1024


def test_reset_drops_the_connection_without_a_response(
    sim: SimServer, client: httpx.Client
) -> None:
    """reset aborts the TCP connection; httpx reports a transport error, not a response."""
    sim.set_fault("key-dhmad", "reset")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        fetch(client, sim, "dhmad", "key-dhmad")


def test_truncate_sends_less_than_content_length(sim: SimServer, client: httpx.Client) -> None:
    """truncate promises the full Content-Length, sends half the body, then closes."""
    sim.set_fault("key-sunor", "truncate")
    with pytest.raises(httpx.RemoteProtocolError):
        fetch(client, sim, "sunor", "key-sunor")


def test_drip_outlasts_a_short_read_timeout(sim: SimServer) -> None:
    """drip sends one byte per interval; a 0.2 s read timeout fires while it dribbles."""
    sim.set_fault("key-sunor", "drip", interval=0.5)
    started = time.monotonic()
    with httpx.Client(timeout=0.2) as short, pytest.raises(httpx.ReadTimeout):
        fetch(short, sim, "sunor", "key-sunor")
    assert time.monotonic() - started < 1.5


def test_drip_eventually_delivers_a_valid_response(sim: SimServer, client: httpx.Client) -> None:
    """With a tiny interval the dripped bytes add up to the normal success response."""
    sim.set_fault("key-sunor", "drip", interval=0.001)
    response = fetch(client, sim, "sunor", "key-sunor")
    assert response.json() == {"code": 200, "data": {"available": 950, "frozen": 10, "total": 960}}


def test_hang_never_answers_and_stop_closes_it_promptly(clock: FakeClock) -> None:
    """hang reads the request and holds the connection; stop_thread still returns at once."""
    sim = SimServer(clock=clock).start_in_thread()
    try:
        sim.add_account("dhmad", "k")
        sim.set_fault("k", "hang")
        with httpx.Client(timeout=0.2) as short, pytest.raises(httpx.ReadTimeout):
            fetch(short, sim, "dhmad", "k")
        held = socket.create_connection(("127.0.0.1", sim.port), timeout=2)
        held.sendall(b"GET /api/v1/balance HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\n\r\n")
        deadline = time.monotonic() + 2
        while sim.requests_for("k") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sim.requests_for("k") == 2
    finally:
        started = time.monotonic()
        sim.stop_thread()
        stopped_in = time.monotonic() - started
    assert stopped_in < 1.0
    assert held.recv(100) == b""  # closed by the server, no response ever written
    held.close()
    assert sim.loop_errors == []


@pytest.mark.parametrize("fault", ["success_false", "code_mismatch"])
def test_http_200_with_an_error_body(sim: SimServer, client: httpx.Client, fault: str) -> None:
    """success_false / code_mismatch answer HTTP 200 whose body is the provider's error."""
    sim.set_fault(None, fault)
    ocd = fetch(client, sim, "oneclickdz", "key-oneclickdz")
    assert ocd.status_code == 200
    assert ocd.json()["success"] is False
    assert ocd.json()["error"]["code"] == "INTERNAL_SERVER_ERROR"
    sunor = fetch(client, sim, "sunor", "key-sunor")
    assert sunor.status_code == 200
    assert sunor.json() == {"code": 500, "message": "Internal server error"}


def test_global_fault_account_fault_and_clearing(sim: SimServer, client: httpx.Client) -> None:
    """set_fault(None, f) hits every request; an account's own fault wins; (None, None) clears all."""
    sim.set_fault(None, "http503")
    sim.set_fault("key-sunor", "auth")
    assert fetch(client, sim, "dhmad", "key-dhmad").status_code == 503
    assert fetch(client, sim, "dhmad", "unknown").status_code == 503
    assert fetch(client, sim, "sunor", "key-sunor").status_code == 401
    sim.set_fault(None, None)
    assert all(fetch(client, sim, p, f"key-{p}").status_code == 200 for p in PROVIDERS)


def test_fault_names_and_params_are_checked(sim: SimServer) -> None:
    """Unknown fault names and parameters are refused at once, not at request time."""
    assert len(FAULTS) == 22
    with pytest.raises(ValueError, match="unknown fault"):
        sim.set_fault("key-dhmad", "teapot")
    with pytest.raises(ValueError, match="parameter"):
        sim.set_fault("key-dhmad", "rate_limited", retry_afterr=3)
    with pytest.raises(KeyError):
        sim.set_fault("no-such-key", "http500")


# ---------------------------------------------------------------- bookkeeping and HTTP


def test_requests_for_counts_every_request_that_reached_the_account(
    sim: SimServer, client: httpx.Client
) -> None:
    """Faulted and rejected requests count; unknown keys and 404s count only in total_requests."""
    fetch(client, sim, "dhmad", "key-dhmad")
    sim.set_fault("key-dhmad", "http500")
    fetch(client, sim, "dhmad", "key-dhmad")
    fetch(client, sim, "thedex", "key-thedex", **{"X-EX-SIGNATURE": "0" * 128})
    fetch(client, sim, "sunor", "stranger")
    client.get(f"http://127.0.0.1:{sim.port}/nowhere")
    assert sim.requests_for("key-dhmad") == 2
    assert sim.requests_for("key-thedex") == 1
    assert sim.requests_for("key-sunor") == 0
    assert sim.total_requests == 5
    assert sim.last_headers("key-dhmad")["authorization"] == "Bearer key-dhmad"
    assert sim.last_headers("key-sunor") == {}


def test_keep_alive_reuses_one_connection(sim: SimServer, client: httpx.Client) -> None:
    """Two requests on one httpx.Client share one TCP connection; Connection: close ends it."""
    fetch(client, sim, "sunor", "key-sunor")
    fetch(client, sim, "dhmad", "key-dhmad")
    assert sim.connections_accepted == 1
    closing = fetch(client, sim, "sunor", "key-sunor", Connection="close")
    assert closing.headers["connection"] == "close"
    fetch(client, sim, "sunor", "key-sunor")
    assert sim.connections_accepted == 2


def test_routing_prefixes_methods_and_unknown_paths(sim: SimServer, client: httpx.Client) -> None:
    """Bare and prefixed paths work, a query string is ignored, a mismatched prefix is 404."""
    base = f"http://127.0.0.1:{sim.port}"
    assert sim.base_url("dhmad") == f"{base}/dhmad"
    assert (
        client.get(
            base + "/api/v1/account/balance?x=1", headers={"x-api-key": "key-sunor"}
        ).status_code
        == 200
    )
    missing = client.get(base + "/sunor/v3/account/balance", headers={"x-api-key": "key-sunor"})
    assert missing.status_code == 404
    assert missing.json()["error"] == "Not Found"
    wrong_method = client.post(base + "/dhmad/api/v1/balance", headers={"X-API-Key": "key-dhmad"})
    assert wrong_method.status_code == 405
    with pytest.raises(ValueError):
        sim.base_url("paypal")


def test_malformed_request_gets_400_and_close(sim: SimServer) -> None:
    """A request line that is not HTTP gets 400 and the connection is closed."""
    with socket.create_connection(("127.0.0.1", sim.port), timeout=2) as raw:
        raw.sendall(b"HELLO\r\n\r\n")
        reply = b""
        while chunk := raw.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Connection: close" in reply


# ---------------------------------------------------------------- asyncio lifecycle


SUNOR_OK = b'{"code":200,"data":{"available":950,"frozen":10,"total":960}}'


async def _keep_alive_client(port: int, key: str, requests: int) -> int:
    """One raw connection sending ``requests`` requests back to back; returns the 200s."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    ok = 0
    for _ in range(requests):
        writer.write(f"GET /api/v1/account/balance HTTP/1.1\r\nx-api-key: {key}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        ok += (
            head.startswith(b"HTTP/1.1 200 ")
            and await reader.readexactly(len(SUNOR_OK)) == SUNOR_OK
        )
    writer.close()
    await writer.wait_closed()
    return ok


def test_async_lifecycle_many_concurrent_clients_and_clean_stop() -> None:
    """On a running loop: httpx.AsyncClient and 400 simultaneous keep-alive connections are served,
    and stop() ends hanging and dripping connections at once, leaving no task or loop error."""

    async def scenario() -> dict[str, Any]:
        errors: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        sim = SimServer()
        for i in range(200):
            sim.add_account("sunor", f"s{i}")
        sim.add_account("dhmad", "hang")
        sim.set_fault("hang", "hang")
        sim.add_account("oneclickdz", "drip")
        sim.set_fault("drip", "drip", interval=0.5)
        await sim.start()
        url = sim.base_url("sunor") + PATHS["sunor"]
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=20)) as client:
            responses = await asyncio.gather(
                *(client.get(url, headers={"x-api-key": f"s{i}"}) for i in range(200))
            )
        raw_ok = await asyncio.gather(
            *(_keep_alive_client(sim.port, f"s{i % 200}", 5) for i in range(400))
        )
        streams = [await asyncio.open_connection("127.0.0.1", sim.port) for _ in range(2)]
        streams[0][1].write(b"GET /dhmad/api/v1/balance HTTP/1.1\r\nX-API-Key: hang\r\n\r\n")
        streams[1][1].write(b"GET /v3/account/balance HTTP/1.1\r\nX-Access-Token: drip\r\n\r\n")
        assert (await streams[1][0].read(1)) == b"H"  # dripping has begun
        started = time.monotonic()
        await sim.stop()
        stop_seconds = time.monotonic() - started
        for reader, writer in streams:
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                await reader.readexactly(10_000)
            writer.close()
        await asyncio.sleep(0)
        return {
            "statuses": {r.status_code for r in responses},
            "raw_ok": sum(raw_ok),
            "per_account": {sim.requests_for(f"s{i}") for i in range(200)},
            "connections": sim.connections_accepted,
            "stop_seconds": stop_seconds,
            "errors": errors,
            "leftover": asyncio.all_tasks() - {asyncio.current_task()},
        }

    result = asyncio.run(scenario())
    assert result["statuses"] == {200}
    assert result["raw_ok"] == 2000
    assert result["per_account"] == {1 + 10}  # one httpx request + 400 * 5 / 200 raw ones
    assert result["connections"] >= 400 + 2
    assert result["stop_seconds"] < 0.5
    assert result["errors"] == []
    assert result["leftover"] == set()
