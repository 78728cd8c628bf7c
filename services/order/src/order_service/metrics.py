"""Prometheus metrics of the order service, in a registry of its own (no import-time globals).

The saga's common set (`shared_events.runtime.metrics`): HTTP, events handled, handler and
batch durations, outbox backlog, relay latency, consumer lag and dead letters. The order
service owns the saga's outcome, so it adds sagas ended (duration by outcome), sagas timed
out, orders by status and the age of the oldest open order.
"""

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from order_service import SERVICE
from order_service.db import orders_by_status
from order_service.domain import OrderStatus
from order_service.unit_of_work import SAGAS_ENDED, SagaEnded
from shared_events import CancelReason
from shared_events.runtime.after_commit import on_commit
from shared_events.runtime.metrics import SCRAPE_STATEMENT_TIMEOUT_MS, ServiceMetrics

SAGA_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
"""Seconds from placed to CONFIRMED/CANCELLED (the saga deadline is minutes, not hours)."""


class Metrics(ServiceMetrics):
    """The common set, plus the saga's outcome as only the order service knows it."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(SERVICE, registry)
        self.orders_placed = Counter(
            "saga_orders_placed", "Orders placed over HTTP", ["service"], registry=self.registry
        )
        self.saga_duration = Histogram(
            "saga_duration_seconds",
            "Time from an order placed to CONFIRMED or CANCELLED, by outcome",
            ["service", "outcome"],
            buckets=SAGA_BUCKETS,
            registry=self.registry,
        )
        self.sagas_timed_out = Counter(
            "saga_timed_out",
            "Sagas cancelled as timed_out: not terminal within ORDER_SAGA_DEADLINE_S",
            ["service"],
            registry=self.registry,
        )
        self.sagas_timed_out.labels(self.service)  # 0 until the first, so rate() sees it

    def order_placed(self) -> None:
        """`POST /orders` committed a new order."""
        self.orders_placed.labels(self.service).inc()

    def sagas_ended(self, ended: Sequence[SagaEnded]) -> None:
        """Orders a committed transaction took to CONFIRMED or CANCELLED."""
        now = datetime.now(UTC)
        for saga in ended:
            seconds = max(0.0, (now - saga.created_at).total_seconds())
            self.saga_duration.labels(self.service, saga.outcome).observe(seconds)
            if saga.reason is CancelReason.TIMED_OUT:
                self.sagas_timed_out.labels(self.service).inc()

    def count_sagas_ended(self, sessions: sessionmaker[Session]) -> None:
        """Observe the sagas every committed transaction of `sessions` ended."""
        on_commit(sessions, SAGAS_ENDED, self.sagas_ended)

    def watch_orders(self, engine: Engine) -> None:
        """`saga_orders` by status and `saga_oldest_open_order_age_seconds`, at each scrape."""

        def read() -> Iterable[Metric]:
            with engine.begin() as conn:
                conn.execute(text(f"SET LOCAL statement_timeout = {SCRAPE_STATEMENT_TIMEOUT_MS}"))
                counts, oldest_open_s = orders_by_status(conn)
            by_status = GaugeMetricFamily(
                "saga_orders", "Orders by status", labels=["service", "status"]
            )
            for status in OrderStatus:
                by_status.add_metric([self.service, status.value], counts.get(status.value, 0))
            yield by_status
            yield self.gauge(
                "saga_oldest_open_order_age_seconds",
                "Age of the oldest order not yet CONFIRMED or CANCELLED (0 when none)",
                oldest_open_s,
            )

        self.watch("orders", read)
