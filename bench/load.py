"""The baselines and the probe driver: the daemon's requests, at the daemon's schedule.

``python -m bench.load --client raw|aiohttp|blackbox --accounts-file F --interval S
--duration S --out F.json [--blackbox HOST:PORT]`` runs one client in its own process (so
``/proc`` tells its CPU apart) for a bounded time, then writes every completed request's
wall-clock time and outcome to ``--out``.

- ``raw``: the cheapest possible poll. A pool of HTTP/1.1 keep-alive connections on asyncio
  streams, no library; the request head of each account is built once (TheDex's body is
  signed afresh per request, as the daemon does); the answer is read by
  ``Content-Length`` (or chunked) and decoded with ``json.loads``.
- ``aiohttp``: one ``ClientSession`` with a connector of the same size, ``resp.read()`` and
  ``json.loads``.
- ``blackbox``: not a baseline but the peer's driver: ``GET /probe?module=<account>&target=
  <url>`` on blackbox_exporter through the raw pool; the probe's own CPU is blackbox's.

Every client has at most :data:`CONCURRENCY` requests in flight, as the daemon has (its
per-host limit, ``MAX_PER_HOST``: the four simulated providers share one host and port),
and a poll still running when its account is due again is skipped (``max_instances=1``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote, urlsplit

from bench.workload import Account, RequestSpec, Schedule, load_accounts, request_spec

CONCURRENCY = 8
TIMEOUT = 10.0

PollFn = Callable[[int], Awaitable[bool]]


# ---------------------------------------------------------------- raw HTTP/1.1


class RawPool:
    """At most ``size`` keep-alive HTTP/1.1 connections to one host and port."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port = host, port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(size)
        self.connects = 0

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one complete request; return the status and the whole body."""
        async with self._slots:
            if self._idle:
                reader, writer = self._idle.pop()
            else:
                reader, writer = await asyncio.open_connection(self.host, self.port)
                self.connects += 1
            try:
                writer.write(raw)
                status, body, keep = await _read_response(reader)
            except BaseException:
                writer.close()
                raise
            if keep:
                self._idle.append((reader, writer))
            else:
                writer.close()
            return status, body

    def close(self) -> None:
        for _reader, writer in self._idle:
            writer.close()
        self._idle.clear()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    status = int(head[9:12])
    length_at = head.find(b"\r\ncontent-length:")
    if length_at >= 0:
        end = head.index(b"\r\n", length_at + 2)
        body = await reader.readexactly(int(head[length_at + 17 : end]))
    elif b"\r\ntransfer-encoding: chunked" in head:
        body = await _read_chunked(reader)
    else:
        raise ValueError("an answer with neither Content-Length nor chunks")
    return status, body, b"\r\nconnection: close" not in head


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers are sent to us
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def raw_head(spec: RequestSpec, headers: dict[str, str], body: bytes | None) -> bytes:
    lines = [f"{spec.method} {spec.path} HTTP/1.1", f"Host: {spec.host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def raw_poller(accounts: list[Account]) -> tuple[PollFn, Callable[[], None]]:
    specs = [request_spec(a) for a in accounts]
    static = [raw_head(s, s.headers, None) if s.thedex_secret is None else b"" for s in specs]
    host, port = _host_port(specs[0].url)
    pool = RawPool(host, port, CONCURRENCY)

    async def poll(index: int) -> bool:
        spec = specs[index]
        if spec.thedex_secret is None:
            raw = static[index]
        else:
            body, headers = spec.body_and_headers()
            raw = raw_head(spec, headers, body) + (body or b"")
        status, body_bytes = await pool.request(raw)
        json.loads(body_bytes)
        return status == 200

    return poll, pool.close


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


# ---------------------------------------------------------------- aiohttp


def aiohttp_poller(accounts: list[Account]) -> tuple[PollFn, Callable[[], Awaitable[None]]]:
    import aiohttp

    specs = [request_spec(a) for a in accounts]
    connector = aiohttp.TCPConnector(limit=CONCURRENCY, limit_per_host=CONCURRENCY)
    session = aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT), auto_decompress=False
    )

    async def poll(index: int) -> bool:
        spec = specs[index]
        body, headers = spec.body_and_headers()
        async with session.request(spec.method, spec.url, headers=headers, data=body) as resp:
            data = await resp.read()
            json.loads(data)
            return resp.status == 200

    return poll, session.close


# ---------------------------------------------------------------- blackbox driver


def blackbox_poller(accounts: list[Account], address: str) -> tuple[PollFn, Callable[[], None]]:
    host, _, port = address.rpartition(":")
    pool = RawPool(host, int(port), CONCURRENCY)
    heads = [
        (
            f"GET /probe?module={quote(a.name)}&target={quote(request_spec(a).url, safe='')} "
            f"HTTP/1.1\r\nHost: {address}\r\nAccept: text/plain\r\n\r\n"
        ).encode()
        for a in accounts
    ]

    async def poll(index: int) -> bool:
        status, body = await pool.request(heads[index])
        return status == 200 and b"\nprobe_success 1" in body

    return poll, pool.close


# ---------------------------------------------------------------- the schedule


class Outcomes:
    def __init__(self) -> None:
        self.done: list[tuple[float, bool]] = []
        self.late: list[tuple[float, float]] = []
        self.skipped = 0
        self.errors: dict[str, int] = {}


async def drive(
    accounts: list[Account], poll: PollFn, interval: float, duration: float
) -> Outcomes:
    """Poll every account at the daemon's schedule until ``duration`` seconds have passed."""
    start = time.monotonic()
    end = start + duration
    schedule = Schedule([a.name for a in accounts], interval, interval * 0.1, start)
    outcomes = Outcomes()
    running: dict[int, asyncio.Task[None]] = {}

    async def one(index: int) -> None:
        try:
            async with asyncio.timeout(TIMEOUT):
                ok = await poll(index)
        except Exception as exc:
            kind = type(exc).__name__
            outcomes.errors[kind] = outcomes.errors.get(kind, 0) + 1
            ok = False
        outcomes.done.append((time.time(), ok))
        del running[index]

    while schedule.peek() < end:
        now = time.monotonic()
        if schedule.peek() > now:
            await asyncio.sleep(min(schedule.peek(), end) - now)
            continue
        due, index = schedule.pop()
        outcomes.late.append((time.time(), now - due))
        if index in running:
            outcomes.skipped += 1
            continue
        running[index] = asyncio.create_task(one(index))
    if running:
        await asyncio.wait(list(running.values()), timeout=TIMEOUT + 1)
    await asyncio.sleep(max(0.0, end - time.monotonic()))  # live through the whole window
    return outcomes


async def _main(args: argparse.Namespace) -> Outcomes:
    accounts = load_accounts(args.accounts_file)
    if args.client == "raw":
        poll, close = raw_poller(accounts)
        try:
            return await drive(accounts, poll, args.interval, args.duration)
        finally:
            close()
    if args.client == "aiohttp":
        poll, aclose = aiohttp_poller(accounts)
        try:
            return await drive(accounts, poll, args.interval, args.duration)
        finally:
            await aclose()
    poll, close = blackbox_poller(accounts, args.blackbox)
    try:
        return await drive(accounts, poll, args.interval, args.duration)
    finally:
        close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--client", choices=("raw", "aiohttp", "blackbox"), required=True)
    parser.add_argument("--accounts-file", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--blackbox", help="HOST:PORT of blackbox_exporter (--client blackbox)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    outcomes = asyncio.run(_main(args))
    result = {
        "done": outcomes.done,
        "late": outcomes.late,
        "skipped": outcomes.skipped,
        "errors": outcomes.errors,
    }
    args.out.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
