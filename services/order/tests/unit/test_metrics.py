"""The order service's own metrics: sagas ended by outcome, and those that timed out."""

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from order_service.metrics import Metrics
from order_service.unit_of_work import SagaEnded
from shared_events import CancelReason


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {"service": "order", **labels})


def test_timed_out_sagas_are_counted_from_zero_and_also_end_as_cancelled() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    assert value(registry, "saga_timed_out_total") == 0
    placed = datetime.now(UTC) - timedelta(seconds=300)

    metrics.sagas_ended(
        [
            SagaEnded("cancelled", placed, CancelReason.TIMED_OUT),
            SagaEnded("cancelled", placed, CancelReason.OUT_OF_STOCK),
            SagaEnded("confirmed", placed),
        ]
    )

    assert value(registry, "saga_timed_out_total") == 1
    assert value(registry, "saga_duration_seconds_count", outcome="cancelled") == 2
    assert value(registry, "saga_duration_seconds_count", outcome="confirmed") == 1
    # Observed as five minutes long, not as a fresh saga.
    assert value(registry, "saga_duration_seconds_bucket", outcome="cancelled", le="120.0") == 0
