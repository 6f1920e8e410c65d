"""``balancewatch run``: the long-running service.

:mod:`.service` wires it together on one asyncio loop: :mod:`.schedule` (the ticker, one
slot per account), :mod:`.cache` (what the daemon keeps between polls), :mod:`.commits`
(group commit), :mod:`.metrics` (``/metrics``, ``/healthz``), :mod:`.sdnotify` (the systemd
protocol) and :mod:`.logs` (structlog, redacted).
"""
