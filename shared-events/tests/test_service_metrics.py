"""The common metrics' names and labels, gauges read at scrape time, and facts counted only
after their transaction commits (no broker, no PostgreSQL: SQLite stands in for a session)."""

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from shared_events.runtime.after_commit import note, on_commit
from shared_events.runtime.metrics import ServiceMetrics, sample_value


def test_every_family_carries_the_service_label_and_one_name_for_all_services() -> None:
    metrics = ServiceMetrics("payment")
    metrics.request("GET", "/accounts/{customer_id}", 200, 0.01)
    metrics.handled("payment-service", "OrderCreated", "applied", 3)
    metrics.handler_seconds("payment-service", {"OrderCreated": 0.02})
    metrics.batch("payment-service", 3, 0.05)
    metrics.published([0.1, 0.2])
    text_ = metrics.render().decode()

    counts = {
        "saga_http_requests_total": 1,
        "saga_http_request_duration_seconds_count": 1,
        "saga_events_handled_total": 3,
        "saga_handler_duration_seconds_count": 1,
        "saga_batch_duration_seconds_count": 1,
        "saga_batch_events_sum": 3,
        "saga_outbox_published_total": 2,
        "saga_relay_publish_latency_seconds_count": 2,
    }
    for name, expected in counts.items():
        assert sample_value(text_, name, service="payment") == expected, name
    assert sample_value(text_, "saga_events_handled_total", outcome="duplicate") is None
    assert sample_value(text_, "saga_relay_publish_latency_seconds_sum") == 0.1 + 0.2


def test_nothing_published_counts_nothing() -> None:
    metrics = ServiceMetrics("order")
    metrics.published([])
    assert sample_value(metrics.render().decode(), "saga_outbox_published_total") is None


def test_a_gauge_that_cannot_be_read_is_left_out_and_the_scrape_still_answers() -> None:
    metrics = ServiceMetrics("inventory")
    reads = []

    def broken() -> Iterable[Metric]:
        reads.append(1)
        yield metrics.gauge("saga_half", "half written", 1)
        raise ConnectionError("database down")

    def fine() -> Iterable[Metric]:
        yield metrics.gauge("saga_fine", "always there", 7)

    metrics.watch("broken", broken)
    metrics.watch("fine", fine)
    assert reads == [], "registering must not read"

    text_ = metrics.render().decode()

    assert reads == [1]
    assert sample_value(text_, "saga_half") is None  # not half a reading
    assert sample_value(text_, "saga_fine", service="inventory") == 7


def test_facts_reach_the_listener_only_when_their_transaction_commits() -> None:
    engine = create_engine("sqlite://")
    sessions = sessionmaker(engine)
    received: list[list[object]] = []
    on_commit(sessions, "ended", received.append)

    with sessions() as session:
        with session.begin():
            session.execute(text("SELECT 1"))
            note(session, "ended", "a")
            note(session, "ended", "b")
        assert received == [["a", "b"]]

        session.begin()
        note(session, "ended", "rolled back")
        session.rollback()
        with session.begin():
            session.execute(text("SELECT 1"))  # a later commit does not bring it back
        assert received == [["a", "b"]]

    with sessions.begin() as session:
        session.execute(text("SELECT 1"))  # a commit with no facts reports nothing
    assert received == [["a", "b"]]


def test_a_one_sample_gauge_is_labelled_with_the_service() -> None:
    family = ServiceMetrics("order").gauge("saga_x", "x", 2.5)
    assert isinstance(family, GaugeMetricFamily)
    [sample] = family.samples
    assert (sample.labels, sample.value) == ({"service": "order"}, 2.5)
