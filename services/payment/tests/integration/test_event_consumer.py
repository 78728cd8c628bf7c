"""The payment handlers behind the real EventConsumer and a real broker.

The consumer reads a private topic (same records as `order-events`), so the test
neither sees other runs' orders nor lets them see its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from sqlalchemy.orm import Session, sessionmaker

from payment_service.consumer import HANDLERS
from payment_service.tables import processed_events
from shared_events.kafka import encode
from shared_events.kafka.consuming.consumer import EventConsumer
from shared_events.topics import dead_letter_topic

if TYPE_CHECKING:
    from conftest import PaymentDriver

pytestmark = pytest.mark.integration


@pytest.fixture
def private_topic(kafka_bootstrap: str) -> Iterator[str]:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    topic = f"payment-test-order-events-{uuid4()}"
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    yield topic
    admin.delete_topics([topic])[topic].result(timeout=30)


def test_order_events_from_the_broker_are_charged_and_refunded_once(
    kafka_bootstrap: str,
    private_topic: str,
    session_factory: sessionmaker[Session],
    driver: PaymentDriver,
) -> None:
    customer, order_id = driver.open_account(1000), uuid4()
    created, cancelled = driver.created(order_id, customer, 300), driver.cancelled(order_id)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for envelope in (created, created, cancelled):  # the first event is delivered twice
        record = encode(envelope)
        producer.produce(private_topic, record.value, record.key, headers=record.headers)
    assert producer.flush(30) == 0

    consumer = EventConsumer(
        bootstrap_servers=kafka_bootstrap,
        group_id=f"payment-service-test-{uuid4()}",
        topics=[private_topic],
        handlers=HANDLERS,
        session_factory=session_factory,
        processed_table=processed_events,
        dead_letter_topic=dead_letter_topic("payment-service"),
    )
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while consumer.processed + consumer.duplicates < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(30)

    assert (consumer.processed, consumer.duplicates, consumer.dead_lettered) == (2, 1, 0)
    assert driver.balance(customer) == 1000
    assert [e.event_type for e in driver.published(order_id)] == [
        "PaymentProcessed",
        "PaymentRefunded",
    ]
