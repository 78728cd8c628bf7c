"""The wired service on the real broker: consumer and relay started by the app's lifespan."""

import time
import warnings
from uuid import uuid4

import pytest
from confluent_kafka import Producer
from sqlalchemy import func, select
from starlette.exceptions import StarletteDeprecationWarning

from order_service.bootstrap import bootstrap
from order_service.consumer import HANDLERS, TOPICS
from order_service.settings import Settings
from order_service.tables import outbox, processed_events
from shared_events.kafka.codec import encode
from shared_events.kafka.consuming.consumer import EventConsumer
from shared_events.runtime.metrics import sample_value

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


def wait_for(check, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


@pytest.fixture
def wired_client(kafka_bootstrap, order_engine, order_sessions):
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap)

    def fresh_group_consumer(settings, session_factory):
        # A group of its own, so this test never takes partitions from a running service.
        return EventConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=f"order-service-test-{uuid4()}",
            topics=TOPICS,
            handlers=HANDLERS,
            session_factory=session_factory,
            processed_table=processed_events,
            dead_letter_topic="order-service.dlq",
        )

    service = bootstrap(settings, engine=order_engine, make_consumer=fresh_group_consumer)
    assert service.app is not None
    with TestClient(service.app) as client:
        wait_for(lambda: client.get("/health/ready").status_code == 200)
        yield client


def test_events_from_kafka_confirm_an_order_and_its_events_reach_kafka(
    wired_client, kafka_bootstrap, order_sessions, order_engine, saga
):
    with order_sessions.begin() as session:
        HANDLERS["ProductUpserted"]([saga.product_upserted("W-1", 10)], session)
    # A customer no running payment service knows: if a `make dev` system shares this broker,
    # it answers the OrderCreated our relay publishes with PaymentFailed, which cannot
    # cancel an order that ItemsReserved has already confirmed.
    customer = f"wiring-test-{uuid4()}"
    order_id = wired_client.post(
        "/orders", json={"customer_id": customer, "items": [{"sku": "W-1", "quantity": 1}]}
    ).json()["order_id"]

    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for event in (saga.items_reserved(order_id, "W-1"), saga.payment_processed(order_id)):
        record = encode(event)
        producer.produce(record.topic, record.value, record.key, headers=record.headers)
    assert producer.flush(30) == 0

    expected = {"ItemsReserved", "OrderConfirmed", "OrderCreated", "PaymentProcessed"}
    confirmed = wait_for(
        lambda: (
            (o := wired_client.get(f"/orders/{order_id}").json())["status"] == "CONFIRMED"
            and expected <= {h["event_type"] for h in o["history"]}
            and o
        )
    )
    # The two topics interleave freely; either arrival order confirms, each event once.
    types = [h["event_type"] for h in confirmed["history"]]
    assert all(types.count(event_type) == 1 for event_type in expected)

    def unsent() -> int:
        with order_engine.connect() as connection:
            query = select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
            return connection.execute(query).scalar_one()

    wait_for(lambda: unsent() == 0)
    metrics = wired_client.get("/metrics").text

    # Counted after their commits: the events applied, the rows published, the saga ended.
    def count(name: str, **labels: str) -> float:
        return sample_value(metrics, name, service="order", **labels) or 0

    # (A group of its own reads the topics from the start: earlier tests' events count too.)
    for event_type in ("ItemsReserved", "PaymentProcessed"):
        assert count("saga_events_handled_total", event_type=event_type, outcome="applied") >= 1
    assert count("saga_outbox_published_total") >= 2  # OrderCreated, OrderConfirmed
    assert count("saga_relay_publish_latency_seconds_count") >= 2
    assert count("saga_duration_seconds_count", outcome="confirmed") >= 1, metrics
    assert sample_value(metrics, "saga_outbox_backlog_rows", service="order") == 0
