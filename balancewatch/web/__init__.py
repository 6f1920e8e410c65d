"""The status page: server-rendered HTML, SVG charts drawn in Python, a read-only JSON API.

The daemon hosts it on its own event loop (``http: {listen: ...}``) and hands it what it
reads (:class:`balancewatch.web.app.Source`): a way to run store reads on the daemon's
database thread, the current config, the metrics and the health check. Nothing here imports
the daemon or the commands.

:mod:`balancewatch.web.data` (what ``status --json`` and ``/api/v1/status`` both say) and
:mod:`balancewatch.web.svg` import neither aiohttp nor Jinja2, so the command line stays quick.
"""
