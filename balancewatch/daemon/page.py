"""The status page's server, started on the daemon's loop with what it may read.

The page (:mod:`balancewatch.web`) imports nothing of the daemon's: it is handed the
store and the database thread to read it on, the config and the plans in force, the
health check and the metrics' renderer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from balancewatch.daemon.logs import get_logger

if TYPE_CHECKING:
    from balancewatch.daemon.service import Daemon

log = get_logger("balancewatch.daemon")


async def start_page(daemon: Daemon) -> bool:
    """Serve the page if ``http:`` is set; False (an error logged) if its address is taken.

    Sets ``daemon.web``, and ``daemon.serving`` once it listens (the demo waits for it to
    print the address).
    """
    http, metrics = daemon.config.http, daemon.metrics
    if http is None or metrics is None:
        return True
    # Imported here: Jinja2 and aiohttp's server weigh ~13 MB a daemon without `http:`
    # never needs (bench/rss.py's first step).
    from balancewatch.web.app import Source, WebServer

    source = Source(
        store=daemon.store,
        db=daemon.db,
        config=lambda: daemon.config,
        health=daemon.health_problems,
        metrics=metrics.render,
        metrics_type=metrics.content_type,
        clock=daemon.clock,
        acknowledged=daemon.cache.take_ack,
        withdrawn=daemon.cache.withdraw_ack,
        plans=lambda: daemon.plans,
    )
    metrics.acknowledged = daemon.cache.holding_acks
    server = WebServer(source, http)
    try:
        bound = await server.start()
    except OSError as error:
        log.error("http_listen_failed", listen=http.listen, error=str(error))
        return False
    daemon.web = server
    daemon.serving.set()
    log.info("http_listening", host=http.host, port=bound, page=server.address)
    return True
