"""Prometheus metrics of one service instance, in their own registry (no import-time globals)."""

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


@dataclass
class Metrics:
    """Counters the API and the consumer update; `/metrics` renders them."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.http_requests = Counter(
            "inventory_http_requests",
            "HTTP requests served, by method, route and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "inventory_http_request_duration_seconds",
            "Time to serve an HTTP request, by method and route",
            ["method", "route"],
            registry=self.registry,
        )
        self.reservations = Counter(
            "inventory_reservation_outcomes",
            "Reservation attempts, by outcome (reserved, out_of_stock, unknown_sku, released)",
            ["outcome"],
            registry=self.registry,
        )
        self.outbox_published = Gauge(
            "inventory_outbox_published",
            "Outbox rows this process's relay has published since it started",
            registry=self.registry,
        )
        self.consumer_processed = Gauge(
            "inventory_consumer_processed",
            "Events this process's consumer applied since it started",
            registry=self.registry,
        )
        self.consumer_duplicates = Gauge(
            "inventory_consumer_duplicates",
            "Redelivered events this process's consumer skipped since it started",
            registry=self.registry,
        )
        self.consumer_dead_lettered = Gauge(
            "inventory_consumer_dead_lettered",
            "Events this process's consumer sent to the dead-letter topic since it started",
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
