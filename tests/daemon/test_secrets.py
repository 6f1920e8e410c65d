"""No secret in any log line, page or API answer: canaries in every place a secret can live,
every fault, at DEBUG.

One daemon watches one account per simulated fault mode (a fault per account, so backoff
and the auth quarantine do not hide any of them), with a canary as every credential:
header keys of all four providers, the TheDex HMAC secret, an http_json header, and an
Apprise URL's password and path token. One notifier is up and one is down, so Apprise
logs both its sends and its failures. Then the whole log is searched for every canary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from balancewatch.sim.server import FAULTS, SimServer
from tests.daemon.watching import wait_until
from tests.receivers import JsonReceiver, free_port

PROVIDERS = ("dhmad", "oneclickdz", "thedex", "sunor")


def _account(sim: SimServer, index: int, fault: str) -> tuple[str, list[str]]:
    provider = PROVIDERS[index % len(PROVIDERS)]
    key = f"canaryKEY{index:02d}x{provider}"
    secret = f"canarySECRET{index:02d}xhmac" if provider == "thedex" else None
    sim.add_account(provider, key, secret=secret)
    sim.set_fault(key, fault)
    lines = [
        f"  - name: acct-{index:02d}",
        f"    provider: {provider}",
        f"    api_key: {key}",
        f"    base_url: {sim.base_url(provider)}",
    ]
    if secret:
        lines.append(f"    secret: {secret}")
    return "\n".join(lines), [key, *([secret] if secret else [])]


def test_no_canary_in_any_log_line_for_any_fault(tmp_path: Path) -> None:
    """Every fault mode at DEBUG, one notifier up and one down: no canary in the log."""
    with SimServer() as sim, JsonReceiver() as receiver:
        blocks, canaries = [], []
        for index, fault in enumerate(sorted(FAULTS)):
            block, planted = _account(sim, index, fault)
            blocks.append(block)
            canaries += planted
        sim.add_account("sunor", "canaryHEADERxhttpjson")
        blocks.append(
            "  - name: generic\n    provider: http_json\n"
            f"    url: {sim.base_url('sunor')}/api/v1/account/balance\n"
            "    headers: {x-api-key: canaryHEADERxhttpjson}\n"
            "    available: data.available\n    currency: CREDITS\n"
            "    rules:\n      - threshold: {below: 1000000}"
        )
        canaries += ["canaryHEADERxhttpjson", "canaryPASSWORDxapprise", "canaryPATHTOKENxapprise"]
        canaries += ["canaryPASSWORDxdown", "canaryPATHTOKENxdown"]
        config = tmp_path / "config.yaml"
        port = free_port()
        canaries.append("canaryWEBSECRETxxxxxxxxxxxxxxxxxxxxxxxx")
        config.write_text(
            f"state: {{path: {tmp_path / 'state.db'}}}\n"
            f"http: {{listen: '127.0.0.1:{port}', secret: {canaries[-1]}}}\n"
            "defaults: {interval: 1s, timeout: 800ms, jitter: 0s, failures_before_alert: 1}\n"
            "notifiers:\n"
            f'  hook: "json://bw:canaryPASSWORDxapprise@127.0.0.1:{receiver.port}'
            '/hook/canaryPATHTOKENxapprise"\n'
            f'  down: "json://bw:canaryPASSWORDxdown@127.0.0.1:{free_port()}'
            '/hook/canaryPATHTOKENxdown"\n'
            "accounts:\n" + "\n".join(blocks) + "\n"
        )
        log = tmp_path / "daemon.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "balancewatch", "run", "-c", str(config), "--debug"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=os.environ.copy(),
            )
        try:
            names = {f"acct-{i:02d}" for i in range(len(FAULTS))} | {"generic"}

            def polled() -> set[str]:
                found = set()
                for line in log.read_text(errors="replace").splitlines():
                    if line.startswith("{") and '"event": "poll"' in line:
                        found.add(json.loads(line).get("account"))
                return found

            wait_until(lambda: names <= polled(), timeout=40, what="a poll of every account")
            wait_until(lambda: "delivery_failed" in log.read_text(), what="a failed delivery")
            wait_until(lambda: bool(receiver.messages()), what="a delivery")
            served = _pages(f"http://127.0.0.1:{port}", sorted(names))
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        text = log.read_text(errors="replace")
    assert '"level": "debug"' in text  # it really ran at DEBUG
    leaked = [c for c in canaries if c in text]
    assert leaked == []
    assert "acct-00" in served  # the pages were really read
    assert [c for c in canaries if c in served] == []


def _pages(base: str, names: list[str]) -> str:
    """Every page and API answer about every account, concatenated."""
    paths = ["/", "/?state=failing", "/api/v1/status", "/metrics", "/healthz"]
    for name in names:
        paths += [
            f"/accounts/{name}",
            f"/accounts/{name}?range=10m",
            f"/accounts/{name}/spark.svg",
            f"/api/v1/accounts/{name}/history",
        ]
    found = []
    for path in paths:
        try:
            with urllib.request.urlopen(base + path, timeout=10) as response:
                found.append(response.read().decode())
        except urllib.error.HTTPError as error:  # /healthz may be 503: its text counts too
            found.append(error.read().decode())
    return "\n".join(found)
