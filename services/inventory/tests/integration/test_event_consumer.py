"""The wired service consuming from the real broker: decode, dedup, reserve, stage the outcome."""

import time
from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from sqlalchemy import Engine

from inventory_service.bootstrap import bootstrap
from inventory_service.consumer import HANDLERS, TOPICS
from inventory_service.handlers import UpsertProduct, get_product, upsert_product
from inventory_service.settings import Settings
from inventory_service.tables import processed_events
from inventory_service.unit_of_work import SqlUnitOfWork
from shared_events import OrderCreated, OrderLine, PaymentProcessed, new_envelope
from shared_events.kafka import encode
from shared_events.runtime.wiring import event_consumer

pytestmark = pytest.mark.integration


@pytest.fixture
def private_topics(inventory_settings: Settings) -> Iterator[dict[str, str]]:
    """Throwaway copies of the consumed topics, so the test's events reach no other consumer."""
    admin = AdminClient({"bootstrap.servers": inventory_settings.kafka_bootstrap_servers})
    run = uuid4().hex[:8]
    names = {topic: f"inventory-it-{run}.{topic}" for topic in TOPICS}
    created = admin.create_topics([NewTopic(name, num_partitions=2) for name in names.values()])
    for future in created.values():
        future.result(15)
    yield names
    for future in admin.delete_topics(list(names.values())).values():
        future.result(15)


def _wait_for(check: Callable[[], bool], what: str, deadline_s: float = 30.0) -> None:
    until = time.monotonic() + deadline_s
    while time.monotonic() < until:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_service_reserves_from_kafka_events_once_despite_redelivery(
    inventory_settings: Settings,
    engine: Engine,
    sql_uow: Callable[[], SqlUnitOfWork],
    sku: Callable[[str], str],
    staged: Any,
    private_topics: dict[str, str],
) -> None:
    group = f"inventory-it-{uuid4().hex[:8]}"
    settings = inventory_settings.model_copy(update={"consumer_group": group})
    item = sku("A")
    upsert_product(UpsertProduct(item, "Apple", 100, 5), sql_uow())
    order_id = uuid4()
    created = new_envelope(
        OrderCreated(
            order_id=order_id,
            customer_id="c",
            items=(OrderLine(sku=item, quantity=2, unit_price_cents=100),),
            total_cents=200,
            currency="EUR",
        ),
        producer="order",
    )
    paid = new_envelope(
        PaymentProcessed(order_id=order_id, payment_id=uuid4(), amount_cents=200),
        producer="payment",
    )
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for envelope in (paid, created, paid):  # payment first, and delivered twice
        record = encode(envelope)
        topic = private_topics[record.topic]
        producer.produce(topic, record.value, record.key, headers=record.headers)
    assert producer.flush(10) == 0

    topics = list(private_topics.values())
    service = bootstrap(
        settings,
        engine=engine,
        api=False,
        relay=False,
        make_consumer=lambda settings, sessions: event_consumer(
            settings, sessions, topics=topics, handlers=HANDLERS, processed_table=processed_events
        ),
    )
    consumer = service.background.threads.consumer
    assert consumer is not None and service.background.threads.relay is None
    service.background.threads.start()
    try:

        def reserved() -> bool:
            product = get_product(item, sql_uow())
            return product is not None and product.reserved == 2

        _wait_for(reserved, "the reservation")
        _wait_for(lambda: consumer.duplicates + consumer.processed >= 3, "all three records")
        assert service.background.threads.readiness() == {"consumer": True}
    finally:
        service.background.threads.stop()

    product = get_product(item, sql_uow())
    assert product is not None and (product.available, product.reserved) == (3, 2)
    assert consumer.duplicates == 1
    assert [e.event_type for e in staged(engine, str(order_id))] == ["ItemsReserved"]
