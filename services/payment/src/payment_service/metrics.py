"""Prometheus metrics of the payment service, in a registry of its own (no import-time globals).

The saga's common set (`shared_events.runtime.metrics`): HTTP, events handled, handler and
batch durations, outbox backlog, relay latency, consumer lag and dead letters.
"""

from prometheus_client import CollectorRegistry

from payment_service import SERVICE
from shared_events.runtime.metrics import ServiceMetrics


class Metrics(ServiceMetrics):
    """The common set; the payment service has no metric of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(SERVICE, registry)
