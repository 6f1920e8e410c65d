"""python -m balancewatch.sim: simulated providers for a config of your own, steered from a shell.

Start it (default 127.0.0.1:8080, two accounts of each provider):

    python -m balancewatch.sim

It prints each account's provider, API key (and TheDex secret), base URL and balances,
and a config watching one account of each provider. Save that config as sim.yaml and run
`balancewatch -c sim.yaml run` in another terminal. Then, while both run:

    python -m balancewatch.sim set oneclickdz available 950   # below its line: an alert
    python -m balancewatch.sim set oneclickdz available 20000 # above it again: resolved
    python -m balancewatch.sim set dhmad held 2000            # funds held: an event
    python -m balancewatch.sim fault sunor 500                # polls fail: unreachable
    python -m balancewatch.sim fault sunor none               # they succeed: resolved
    python -m balancewatch.sim show                           # every account, as it is now

ACCOUNT is an API key, or a provider's name (dhmad, oneclickdz, thedex, sunor) for that
provider's first account. KIND is available, pending, held (escrow, frozen, hold) or
total; AMOUNT is exact (read as a Decimal); --currency picks one of the account's
currencies (default: its first). FAULT is none (clears it), a shorthand (500, 503, 401,
403, 429, timeout) or a simulator fault name (http500, auth, rate_limited, hang, html,
nan, gzip_bomb, drip, ...). set, fault and show reach the running simulator through its
control channel, /_sim/ on the same port (JSON over HTTP: balancewatch.sim.admin), so
curl works too:

    curl -d '{"available": "950"}' http://127.0.0.1:8080/_sim/accounts/oneclickdz

Give them --port (and --host) if the simulator is not on 127.0.0.1:8080. `config` prints
the config again (`python -m balancewatch.sim config > sim.yaml`). Exit codes of set,
fault, show and config: 0 done, 1 refused or no simulator there, 2 a usage error.

Ctrl-C (SIGINT) or SIGTERM stops the simulator (exit 0). `serve --help` lists its
options: --accounts N; --json prints one JSON line ({"port", "accounts"}) instead of the
text, for scripts; --accounts-file FILE puts the account list in FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from balancewatch.sim.guide import STEER, account_line, config_snippet, guide
from balancewatch.sim.server import SimServer, generated_accounts
from balancewatch.sim.wire import PROVIDERS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
KINDS = ("available", "pending", "held", "total", "escrow", "frozen", "hold")
COMMANDS = ("serve", "set", "fault", "show", "config")


# ---------------------------------------------------------------- serve


async def _serve(args: argparse.Namespace) -> int:
    server = SimServer(args.host, args.port)
    for provider, key, secret, balances in generated_accounts(args.accounts):
        server.add_account(provider, key, secret=secret, balances=balances)
    try:
        await server.start()
    except OSError as exc:
        where = f"{args.host}:{args.port}"
        message = f"cannot listen on {where}: {exc.strerror or exc} (--port 0 picks a free port)"
        print(message, file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await _announce(server, args)
        await stop.wait()
    finally:
        await server.stop()
    if not args.json:
        print("balancewatch simulator stopped", flush=True)
    return 0


async def _announce(server: SimServer, args: argparse.Namespace) -> None:
    accounts = server.describe()
    listing = [
        {
            "provider": a["provider"],
            "api_key": a["api_key"],
            "secret": a["secret"],
            "base_url": server.base_url(str(a["provider"])),
        }
        for a in accounts
    ]
    announce: dict[str, object] = {"port": server.port}
    if args.accounts_file:
        text = json.dumps(listing) + "\n"
        await asyncio.to_thread(Path(args.accounts_file).write_text, text, encoding="utf-8")
        announce["accounts_file"] = str(args.accounts_file)
    elif args.json:
        announce["accounts"] = listing
    if args.json:
        sys.stdout.write(json.dumps(announce) + "\n")
    else:
        base_urls = {p: server.base_url(p) for p in PROVIDERS}
        address = _options(server.host, server.port)
        sys.stdout.write(guide(base_urls, accounts, address, listed=not args.accounts_file))
    sys.stdout.flush()


def _options(host: str, port: int) -> str:
    """The options that steer this server (none for the defaults)."""
    options = "" if host == DEFAULT_HOST else f" --host {host}"
    return options + ("" if port == DEFAULT_PORT else f" --port {port}")


# ---------------------------------------------------------------- set, fault, show


def _root(args: argparse.Namespace) -> str:
    host = f"[{args.host}]" if ":" in args.host else args.host
    return f"http://{host}:{args.port}"


def _call(args: argparse.Namespace, method: str, path: str, body: object = None) -> Any:
    """The simulator's JSON answer, or ``None`` once the reason it failed is printed.

    The standard library's client: the simulator is a tool of its own, and only the
    providers' HTTP infrastructure uses httpx.
    """
    import urllib.error
    import urllib.request

    url = f"{_root(args)}/_sim/{path}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http only)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc or type(exc).__name__
        print(
            f"cannot reach the simulator at {_root(args)} ({reason}): "
            f"is `{STEER}` running, on this --host and --port?",
            file=sys.stderr,
        )
        return None
    try:
        answer: Any = json.loads(raw)
    except ValueError:
        print(
            f"no balancewatch simulator at {_root(args)} (it answered HTTP {status}, not JSON)",
            file=sys.stderr,
        )
        return None
    if status != 200 or not isinstance(answer, dict):
        error = answer.get("error") if isinstance(answer, dict) else None
        print(f"simulator: {error or f'HTTP {status}'}", file=sys.stderr)
        return None
    return answer


def _print(args: argparse.Namespace, answer: Any) -> int:
    if answer is None:
        return 1
    if args.json:
        print(json.dumps(answer))
    else:
        for account in answer.get("accounts", [answer]):
            print(account_line(account))
    return 0


def _set(args: argparse.Namespace) -> int:
    body: dict[str, str] = {args.kind: str(args.amount)}
    if args.currency:
        body["currency"] = args.currency
    return _print(args, _call(args, "POST", f"accounts/{_quoted(args.account)}", body))


def _fault(args: argparse.Namespace) -> int:
    body = {"fault": args.fault}
    return _print(args, _call(args, "POST", f"accounts/{_quoted(args.account)}", body))


def _show(args: argparse.Namespace) -> int:
    path = f"accounts/{_quoted(args.account)}" if args.account else "accounts"
    return _print(args, _call(args, "GET", path))


def _config(args: argparse.Namespace) -> int:
    answer = _call(args, "GET", "accounts")
    if answer is None:
        return 1
    base_urls = {provider: f"{_root(args)}/{provider}" for provider in PROVIDERS}
    sys.stdout.write(config_snippet(base_urls, answer["accounts"]))
    return 0


def _quoted(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _amount(text: str) -> Decimal:
    """An exact amount from the command line: a Decimal, never a float."""
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount (e.g. 950 or 950.00)")
    return amount


# ---------------------------------------------------------------- parsing


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m balancewatch.sim",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser("serve", help="serve the providers (the default command)")
    _address(serve, serving=True)
    serve.add_argument("--accounts", type=int, default=8, help="accounts to make (default 8)")
    serve.add_argument("--accounts-file", help="write the account list (JSON) to this file")
    serve.add_argument("--json", action="store_true", help="announce as one JSON line")
    serve.set_defaults(run=lambda args: asyncio.run(_serve(args)))
    p = sub.add_parser("set", help="set an amount of a running simulator's account")
    p.add_argument("account", metavar="ACCOUNT", help="an API key, or a provider's name")
    p.add_argument("kind", metavar="KIND", choices=KINDS, help=", ".join(KINDS))
    p.add_argument("amount", metavar="AMOUNT", type=_amount, help="e.g. 950 or 950.00")
    p.add_argument("--currency", help="which of its currencies (default: its first)")
    _client(p, _set)
    p = sub.add_parser("fault", help="make an account's requests fail (or succeed again)")
    p.add_argument("account", metavar="ACCOUNT", help="an API key, or a provider's name")
    p.add_argument("fault", metavar="FAULT", help="none, 500, 503, 401, 403, 429, timeout, ...")
    _client(p, _fault)
    p = sub.add_parser("show", help="print a running simulator's accounts")
    p.add_argument("account", metavar="ACCOUNT", nargs="?", help="only this one")
    _client(p, _show)
    p = sub.add_parser("config", help="print a config watching one account of each provider")
    _address(p, serving=False)
    p.set_defaults(run=_config)
    return parser


def _address(parser: argparse.ArgumentParser, serving: bool) -> None:
    if serving:
        host, port = "address to listen on", "port to listen on (default 8080; 0: a free one)"
    else:
        host, port = "the running simulator's address", "its port (default 8080)"
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"{host} (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=port)


def _client(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int]) -> None:
    _address(parser, serving=False)
    parser.add_argument("--json", action="store_true", help="print the account(s) as JSON")
    parser.set_defaults(run=run)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve (the default) or steer a running simulator; see the module docstring."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0] not in COMMANDS and args_list[0] not in ("-h", "--help")):
        args_list.insert(0, "serve")  # `python -m balancewatch.sim --port 0` serves
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command == "serve" and args.accounts < 0:
        parser.error("--accounts must not be negative")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C before the handlers are set
        return int(args.run(args))
    return 130
