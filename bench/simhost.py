"""The simulated providers in a process of their own, steered over stdin.

``python -m bench.simhost --accounts N --accounts-file F`` serves ``generated_accounts(N)``
with :class:`balancewatch.sim.server.SimServer` (the same accounts and wire formats as
``python -m balancewatch.sim``), prints ``{"port": P}`` on one line, then reads one JSON
command per line on stdin and answers each with one JSON line:

- ``{"op": "set", "api_key": K, "currency": C|null, "available": "10"}``: set a balance
  (the crossings);
- ``{"op": "stats"}``: ``{"requests": total requests served, "connections": accepted}``;
- ``{"op": "quit"}``, or end of input: stop.

The server runs on its own loop in a thread; stdin is read by the main thread, so a
command never waits behind the traffic (SimServer's state sits behind a lock).
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from pathlib import Path

from balancewatch.sim.server import SimServer, generated_accounts


def serve(count: int, accounts_file: Path) -> None:
    server = SimServer("127.0.0.1", 0)
    listing: list[dict[str, object]] = []
    for provider, key, secret, balances in generated_accounts(count):
        server.add_account(provider, key, secret=secret, balances=balances)
        listing.append({"provider": provider, "api_key": key, "secret": secret})
    server.start_in_thread()
    try:
        for entry in listing:
            entry["base_url"] = server.base_url(str(entry["provider"]))
        accounts_file.write_text(json.dumps(listing) + "\n", encoding="utf-8")
        _answer({"port": server.port})
        for line in sys.stdin:
            command = json.loads(line)
            op = command.get("op")
            if op == "quit":
                break
            if op == "set":
                server.set_balance(
                    command["api_key"],
                    command.get("currency"),
                    available=Decimal(command["available"]),
                )
                _answer({"ok": True})
            elif op == "stats":
                _answer(
                    {"requests": server.total_requests, "connections": server.connections_accepted}
                )
            else:
                _answer({"error": f"unknown op {op!r}"})
    finally:
        server.stop_thread()


def _answer(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simhost", description=__doc__)
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--accounts-file", type=Path, required=True)
    args = parser.parse_args()
    serve(args.accounts, args.accounts_file)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
