"""The metrics every service exposes: one set of names, told apart by a `service` label.

Each service's `metrics.py` makes a `ServiceMetrics` (plus what is its own) in a registry of
its own, wires it into its consumer, relay and HTTP app as their observer, and asks it to
watch its outbox and its consumer group. Counts are taken after the fact is durable (see
`shared_events.kafka.observer`); gauges of the outbox, the group's lag and its dead-letter
topic are read when Prometheus scrapes, from the database and the broker themselves, so
they show what is true even when this process's own consumer or relay is stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from sqlalchemy import Engine, Table, text

from shared_events.kafka.connection import KafkaTarget
from shared_events.kafka.consuming.lag import GroupLag
from shared_events.kafka.observer import Outcome
from shared_events.kafka.publishing.claim import backlog
from shared_events.topics import dead_letter_topic

log = structlog.get_logger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds, for HTTP requests, handlers, batches and relay publishing."""

BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
"""Events per consumed batch (`CONSUMER_BATCH_MAX` is 500 by default)."""

SCRAPE_STATEMENT_TIMEOUT_MS = 1000
"""A gauge read from the database gives up after this, so a scrape stays quick."""


class ServiceMetrics:
    """The saga's common metrics for one service, in `registry` (its own by default)."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "saga_http_requests",
            "HTTP requests served, by route template and status code",
            ["service", "method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "saga_http_request_duration_seconds",
            "Time to serve an HTTP request",
            ["service", "method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.events_handled = Counter(
            "saga_events_handled",
            "Consumed events by type and outcome (applied, duplicate, skipped, dead_lettered, "
            "failed: one attempt that failed)",
            ["service", "group", "event_type", "outcome"],
            registry=r,
        )
        self.handler_duration = Histogram(
            "saga_handler_duration_seconds",
            "Time the handlers of one committed batch spent on one event type",
            ["service", "group", "event_type"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_duration = Histogram(
            "saga_batch_duration_seconds",
            "Time to settle one fetched batch (decode, apply, commit, dead-letter)",
            ["service", "group"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_events = Histogram(
            "saga_batch_events",
            "Records per fetched batch",
            ["service", "group"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.outbox_published = Counter(
            "saga_outbox_published",
            "Outbox rows the broker acknowledged and the outbox marked sent",
            ["service"],
            registry=r,
        )
        self.publish_latency = Histogram(
            "saga_relay_publish_latency_seconds",
            "Time from an event staged in the outbox to the broker's acknowledgement",
            ["service"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    # -- HTTP (shared_events.runtime.http_metrics.RequestMetrics) ---------------------------

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One HTTP request answered."""
        self.http_requests.labels(self.service, method, route, str(status)).inc()
        self.http_duration.labels(self.service, method, route).observe(seconds)

    # -- the consumer and the relay (shared_events.kafka.observer.Observer) ---------

    def handled(self, group: str, event_type: str, outcome: Outcome, count: int = 1) -> None:
        self.events_handled.labels(self.service, group, event_type, outcome).inc(count)

    def handler_seconds(self, group: str, seconds_by_type: Mapping[str, float]) -> None:
        for event_type, seconds in seconds_by_type.items():
            self.handler_duration.labels(self.service, group, event_type).observe(seconds)

    def batch(self, group: str, events: int, seconds: float) -> None:
        self.batch_duration.labels(self.service, group).observe(seconds)
        self.batch_events.labels(self.service, group).observe(events)

    def published(self, latencies_s: Sequence[float]) -> None:
        if not latencies_s:
            return
        self.outbox_published.labels(self.service).inc(len(latencies_s))
        histogram = self.publish_latency.labels(self.service)
        for seconds in latencies_s:
            histogram.observe(seconds)

    # -- read at scrape time ---------------------------------------------------------------

    def watch_delivery(
        self,
        engine: Engine,
        outbox: Table,
        bootstrap_servers: KafkaTarget,
        group: str,
        topics: Sequence[str],
    ) -> None:
        """Watch the service's outbox, and its consumer group on `topics` with its dead letters."""
        self.watch_outbox(engine, outbox)
        self.watch_group(GroupLag(bootstrap_servers, group, topics, dead_letter_topic(group)))

    def watch_outbox(self, engine: Engine, outbox: Table) -> None:
        """`saga_outbox_backlog_rows` and `saga_outbox_oldest_age_seconds` of `outbox`."""

        def read() -> Iterable[Metric]:
            with engine.begin() as conn:
                conn.execute(text(f"SET LOCAL statement_timeout = {SCRAPE_STATEMENT_TIMEOUT_MS}"))
                rows, oldest_s = backlog(conn, outbox)
            yield self.gauge("saga_outbox_backlog_rows", "Outbox rows not yet sent", rows)
            yield self.gauge(
                "saga_outbox_oldest_age_seconds",
                "Age of the oldest unsent outbox row (0 when none)",
                oldest_s,
            )

        self.watch("outbox", read)

    def watch_group(self, group: GroupLag) -> None:
        """`saga_consumer_lag` per topic and partition, and `saga_dead_letter_records`."""

        def read() -> Iterable[Metric]:
            sample = group.sample()
            lag = GaugeMetricFamily(
                "saga_consumer_lag",
                "Records on the partition past the group's committed offset",
                labels=["service", "group", "topic", "partition"],
            )
            for (topic, partition), value in sorted(sample.lag.items()):
                lag.add_metric([self.service, group.group, topic, str(partition)], value)
            yield lag
            dead = GaugeMetricFamily(
                "saga_dead_letter_records",
                "Records held in the group's dead-letter topic",
                labels=["service", "group", "topic"],
            )
            dead.add_metric(
                [self.service, group.group, group.dead_letter_topic], sample.dead_letters
            )
            yield dead

        self.watch(f"consumer group {group.group}", read)

    def watch(self, what: str, read: Callable[[], Iterable[Metric]]) -> None:
        """Add gauges `read` makes at each scrape; when it fails they are left out."""
        self.registry.register(_ReadAtScrape(what, read))

    def gauge(self, name: str, documentation: str, value: float) -> GaugeMetricFamily:
        """A one-sample gauge family labelled with this service."""
        family = GaugeMetricFamily(name, documentation, labels=["service"])
        family.add_metric([self.service], value)
        return family

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


class _ReadAtScrape(Collector):
    def __init__(self, what: str, read: Callable[[], Iterable[Metric]]) -> None:
        self.what = what
        self.read = read

    def collect(self) -> Iterable[Metric]:
        try:
            # Materialised first: a reading that fails halfway yields nothing, not half.
            return list(self.read())
        except Exception as error:
            log.info("metrics not read", source=self.what, error=f"{type(error).__name__}: {error}")
            return []

    def describe(self) -> Iterable[Metric]:
        # Registering must not read the database or the broker.
        return []


def sample_value(exposition: str, name: str, **labels: str) -> float | None:
    """The value of sample `name` whose labels include `labels` in a text exposition (the sum
    when several match, None when none does): for tests and tools reading `/metrics`."""
    values = [
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]
    return sum(values) if values else None
