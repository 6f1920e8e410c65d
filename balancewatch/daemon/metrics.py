"""Prometheus metrics and the heartbeat behind ``/healthz`` (``http: {listen: ...}``).

Both are served by the status page's server on the daemon's loop
(:mod:`balancewatch.web.api`, which says what ``/healthz`` does when the loop is stuck);
this module renders the metrics and keeps the timestamps the health check judges from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from balancewatch.model import BALANCE_KINDS, ProviderError, Severity, Snapshot
from balancewatch.records import Acknowledgement

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Gauge, Histogram
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector

FIRING_SEVERITIES = (Severity.WARNING, Severity.CRITICAL)


class Metrics:
    """What ``/metrics`` serves. The daemon makes one only when ``http:`` is configured.

    Without an endpoint nobody could read them, and they are not free: a poll counter and
    a gauge per balance for every account (~1 kB each in prometheus_client), ``labels()``
    lookups on every poll. prometheus_client itself (~4 MB) is imported here, not at the
    top, so that a daemon without ``http:`` never loads it.
    """

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        from prometheus_client.exposition import CONTENT_TYPE_LATEST

        self.content_type: str = CONTENT_TYPE_LATEST
        self.registry = CollectorRegistry()
        r = self.registry
        self.balance = Gauge(
            "balancewatch_balance", "Last read balance", ["account", "currency", "kind"], registry=r
        )
        self.poll_seconds = Histogram(
            "balancewatch_poll_duration_seconds", "Poll duration", ["provider"], registry=r
        )
        self.poll_errors = Counter(
            "balancewatch_poll_errors_total", "Failed polls", ["account", "kind"], registry=r
        )
        self.polls = Counter("balancewatch_polls_total", "Polls", ["account"], registry=r)
        self.firing = Gauge("balancewatch_alerts_firing", "Firing alerts", ["severity"], registry=r)
        self.outbox = Gauge("balancewatch_outbox_depth", "Deliveries waiting", registry=r)
        self.delivery_failures = Counter(
            "balancewatch_deliveries_failed_total", "Failed delivery attempts", registry=r
        )
        self.gave_up = Counter(
            "balancewatch_deliveries_given_up_total", "Deliveries given up", registry=r
        )
        self.last_reload_ok = Gauge(
            "balancewatch_last_reload_ok", "1 if the last reload applied", registry=r
        )
        self.last_reload_ok.set(1)
        self.lease_lost = Counter(
            "balancewatch_lease_lost_total",
            "Poll results refused: another daemon claimed the account since this one did",
            registry=r,
        )
        self.oldest_due = Gauge(
            "balancewatch_oldest_due_seconds",
            "How long the most overdue account has gone unpolled, across all daemons",
            registry=r,
        )
        self.daemons = Gauge(
            "balancewatch_daemons", "Daemons sharing the state, heard from lately", registry=r
        )
        self.configs = Gauge(
            "balancewatch_daemon_configs",
            "Distinct configs among those daemons (more than 1: they differ)",
            registry=r,
        )
        self.held = Gauge(
            "balancewatch_accounts_held", "Accounts this daemon holds a lease on", registry=r
        )
        self.state_up = Gauge(
            "balancewatch_state_up", "1 while the state database answers", registry=r
        )
        self.state_up.set(1)
        self._firing_by: dict[Severity, Gauge] = {
            severity: self.firing.labels(severity.label) for severity in FIRING_SEVERITIES
        }
        self._seconds_by: dict[str, Histogram] = {}
        self.acknowledged: Callable[[], Iterable[Acknowledgement]] = list
        """The acknowledgements in force (the daemon's cache), read at each scrape."""
        self._exposed = CollectorRegistry(auto_describe=False)
        self._exposed.register(_without_created(self.registry))
        self._exposed.register(_acknowledgements(self))

    def observe_poll(
        self,
        account: str,
        provider: str,
        outcome: Snapshot | ProviderError,
        seconds: float,
        firing: Mapping[Severity, int],
    ) -> None:
        """One poll: its account's counter and balances, its provider's duration, and the
        firing counts (children that do not depend on the account are looked up once)."""
        self.polls.labels(account).inc()
        duration = self._seconds_by.get(provider)
        if duration is None:
            duration = self._seconds_by[provider] = self.poll_seconds.labels(provider)
        duration.observe(seconds)
        if isinstance(outcome, Snapshot):
            self.observe_snapshot(outcome)
        else:
            self.poll_errors.labels(account, outcome.kind).inc()
        for severity, gauge in self._firing_by.items():
            gauge.set(firing.get(severity, 0))

    def observe_snapshot(self, snapshot: Snapshot) -> None:
        for currency, balance in snapshot.balances.items():
            for kind in BALANCE_KINDS:
                value: Decimal | None = balance.kind(kind)
                if value is not None:
                    # Prometheus samples are floats by protocol; this is a gauge, not money.
                    self.balance.labels(snapshot.account, currency, kind).set(float(value))

    def forget(self, account: str) -> None:
        """Drop a removed account's series: a last balance exported forever would mislead."""
        for metric in (self.balance, self.poll_errors, self.polls):
            names = metric._labelnames  # prometheus_client keeps them; no public accessor
            stale = {
                tuple(sample.labels[n] for n in names)
                for family in metric.collect()
                for sample in family.samples
                if sample.labels.get("account") == account
            }
            for labels in stale:
                metric.remove(*labels)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self._exposed)


_HAS_CREATED = ("counter", "histogram", "summary")


def _without_created(registry: CollectorRegistry) -> Collector:
    """A collector serving ``registry`` without the ``*_created`` samples.

    prometheus_client adds a creation timestamp to every counter and histogram child; the
    text format exports it as a gauge of its own (one more series per account). Its
    ``disable_created_metrics()`` (all of 0.20+) is process-wide: it would change every
    other registry in the process too, so the samples are left out here, at render time.
    """
    from prometheus_client.registry import Collector as Base

    class WithoutCreated(Base):  # an ABC up to 0.23, a Protocol from 0.24
        def collect(self) -> Iterable[Metric]:
            for family in registry.collect():  # fresh objects on every collect()
                if family.type in _HAS_CREATED:
                    created = family.name + "_created"
                    family.samples = [s for s in family.samples if s.name != created]
                yield family

    return WithoutCreated()


def _acknowledgements(metrics: Metrics) -> Collector:
    """``balancewatch_alert_acknowledged_timestamp_seconds{account, alert, by}``: when each
    acknowledged firing alert was acknowledged, one series while it holds (a gauge made
    at scrape time: no stale series once the alert resolves or escalates)."""
    from prometheus_client.metrics_core import GaugeMetricFamily
    from prometheus_client.registry import Collector as Base

    class Acknowledged(Base):
        def collect(self) -> Iterable[Metric]:
            family = GaugeMetricFamily(
                "balancewatch_alert_acknowledged_timestamp_seconds",
                "When a firing alert was acknowledged (its reminders stop until it changes)",
                labels=["account", "alert", "by"],
            )
            for ack in metrics.acknowledged():  # set by the daemon after this is made
                # Prometheus samples are floats by protocol; an instant, not money.
                family.add_metric(
                    [ack.account, ack.alert_key, ack.acked_by], ack.acked_at.timestamp()
                )
            yield family

    return Acknowledged()


class Heartbeat:
    """Timestamps the loop writes and ``/healthz`` reads (monotonic seconds)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.loop = self.started
        self.last_poll: float | None = None
        self.last_delivery_run = self.started
