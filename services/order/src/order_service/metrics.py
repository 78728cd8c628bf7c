"""Prometheus metrics of one service instance, in their own registry (no import-time globals)."""

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


@dataclass
class Metrics:
    """Counters the API and the consumer update; `/metrics` renders them."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.http_requests = Counter(
            "order_http_requests",
            "HTTP requests served, by method, route and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "order_http_request_duration_seconds",
            "Time to serve an HTTP request, by method and route",
            ["method", "route"],
            registry=self.registry,
        )
        self.orders_placed = Counter(
            "order_orders_placed", "Orders placed over HTTP", registry=self.registry
        )

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
