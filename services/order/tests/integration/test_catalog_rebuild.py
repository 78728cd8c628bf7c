"""The catalog on the real broker: rebuilt from the compacted `product-catalog` at any age.

Records are produced as inventory's outbox relay writes them (`encode` of its envelopes), with
the envelope time and the record timestamp of a product last changed long ago. The consumer is
the service's own (`default_consumer`), in a consumer group of the test's own.
"""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from order_service.bootstrap import default_consumer
from order_service.settings import Settings
from order_service.tables import catalog, processed_events
from shared_events import ProductUpserted, new_envelope
from shared_events.kafka.codec import encode
from shared_events.topics import INVENTORY_EVENTS, PRODUCT_CATALOG, dead_letter_topic

pytestmark = pytest.mark.integration

LONG_AGO = datetime.now(UTC) - timedelta(days=400)
"""Past any retention of `inventory-events`: only a compacted topic still has such a record."""

Row = tuple[str, str, int, datetime]


def wait_for(check: Callable[[], object], timeout_s: float = 60.0) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=timeout_s)
    while datetime.now(UTC) < deadline:
        if check():
            return
        threading.Event().wait(0.2)
    raise AssertionError("condition not met in time")


def publish(bootstrap: str, topic: str, upserts: list[Row]) -> list[UUID]:
    """Write ProductUpserted records as inventory's relay would, dated `when`, to `topic`;
    their event ids."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    event_ids = []
    for sku, name, price_cents, when in upserts:
        event = ProductUpserted(sku=sku, name=name, price_cents=price_cents)
        envelope = new_envelope(event, producer="inventory", occurred_at=when)
        event_ids.append(envelope.event_id)
        record = encode(envelope)
        # The topic it went to: product-catalog now, inventory-events before shared-events 2.4.
        producer.produce(
            topic,
            record.value,
            record.key,
            headers=record.headers,
            timestamp=int(when.timestamp() * 1000),
        )
    assert producer.flush(30) == 0
    return event_ids


def catalog_rows(engine: Engine, skus: list[str]) -> dict[str, Row]:
    with engine.connect() as connection:
        rows = connection.execute(select(catalog).where(catalog.c.sku.in_(skus)))
        return {r.sku: (r.sku, r.name, r.price_cents, r.updated_at) for r in rows}


def whole_catalog(engine: Engine) -> set[Row]:
    with engine.connect() as connection:
        return {
            (r.sku, r.name, r.price_cents, r.updated_at)
            for r in connection.execute(select(catalog))
        }


@contextmanager
def consuming(bootstrap: str, group: str, sessions: sessionmaker[Session]) -> Iterator[None]:
    """The service's consumer running in `group` until the block ends (offsets committed).

    The group gets its dead-letter topic, as provisioning gives the service's own: whatever
    else the saga topics hold (poison records of other tests) is dead-lettered, not retried
    against a topic that is not there.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(dead_letter_topic(group), 1, 1)]).values():
        try:
            future.result(timeout=15)
        except KafkaException as error:  # the same group again: its topic is there
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    settings = Settings(kafka_bootstrap_servers=bootstrap, consumer_group=group)
    consumer = default_consumer(settings, sessions)
    stop = threading.Event()
    worker = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(30)
        assert not worker.is_alive()


def rewind(bootstrap: str, group: str, topic: str) -> None:
    """Set the group's committed offsets on `topic` to its earliest: as if it never read it."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    partitions = admin.list_topics(topic, timeout=15).topics[topic].partitions
    earliest = admin.list_offsets(
        {TopicPartition(topic, p): OffsetSpec.earliest() for p in partitions}, request_timeout=15
    )
    reset = [
        TopicPartition(tp.topic, tp.partition, f.result().offset) for tp, f in earliest.items()
    ]
    request = ConsumerGroupTopicPartitions(group, reset)
    for future in admin.alter_consumer_group_offsets([request]).values():
        future.result(timeout=15)


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    partitions = admin.list_topics(topic, timeout=15).topics[topic].partitions
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in partitions])
    [future] = admin.list_consumer_group_offsets([request]).values()
    return {tp.partition: tp.offset for tp in future.result(timeout=15).topic_partitions}


@pytest.fixture
def skus() -> list[str]:
    run = uuid4().hex[:8]
    return [f"rebuild-{run}-{n}" for n in range(12)]


def test_a_wiped_catalog_comes_back_whole_from_product_catalog_alone(
    kafka_bootstrap: str,
    order_engine: Engine,
    order_sessions: sessionmaker[Session],
    skus: list[str],
) -> None:
    # Every product last changed 400 days ago, one of them changed again a month ago.
    event_ids = publish(
        kafka_bootstrap,
        PRODUCT_CATALOG,
        [(sku, f"Product {n}", 100 + n, LONG_AGO) for n, sku in enumerate(skus)],
    )
    month_ago = datetime.now(UTC) - timedelta(days=30)
    event_ids += publish(kafka_bootstrap, PRODUCT_CATALOG, [(skus[0], "Renamed", 999, month_ago)])
    expected = {
        sku: (sku, f"Product {n}", 100 + n, LONG_AGO) for n, sku in enumerate(skus) if n > 0
    } | {skus[0]: (skus[0], "Renamed", 999, month_ago)}
    group = f"order-service-rebuild-{uuid4()}"

    with consuming(kafka_bootstrap, group, order_sessions):
        wait_for(lambda: catalog_rows(order_engine, skus) == expected)
    inventory_events_offsets = committed(kafka_bootstrap, group, INVENTORY_EVENTS)
    before = whole_catalog(order_engine)
    # Nothing of the catalog went to the inbox: that is what lets a re-read apply it again.
    with order_engine.connect() as connection:
        recorded = connection.execute(
            select(func.count())
            .select_from(processed_events)
            .where(processed_events.c.event_id.in_(event_ids))
        )
        assert recorded.scalar_one() == 0

    # Wipe the catalog, and the group's offsets on product-catalog (only there).
    with order_engine.begin() as connection:
        connection.execute(text("TRUNCATE orders.catalog"))
    rewind(kafka_bootstrap, group, PRODUCT_CATALOG)
    assert whole_catalog(order_engine) == set()

    with consuming(kafka_bootstrap, group, order_sessions):
        wait_for(lambda: catalog_rows(order_engine, skus) == expected)
        # Whatever else comes back is what was there, nothing older.
        wait_for(lambda: whole_catalog(order_engine) <= before, timeout_s=30)
    # inventory-events was not read again: the catalog came from product-catalog alone.
    assert committed(kafka_bootstrap, group, INVENTORY_EVENTS) == inventory_events_offsets


def test_during_the_move_both_topics_feed_the_catalog_and_the_newest_record_wins(
    kafka_bootstrap: str,
    order_engine: Engine,
    order_sessions: sessionmaker[Session],
    skus: list[str],
) -> None:
    moved, legacy_only = skus[0], skus[1]
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    # What an inventory release before 2.4.0 wrote to inventory-events ...
    publish(
        kafka_bootstrap,
        INVENTORY_EVENTS,
        [(moved, "Old name", 100, LONG_AGO), (legacy_only, "Legacy", 200, hour_ago)],
    )
    # ... and what `publish-catalog` (or a PUT) then wrote to product-catalog.
    publish(kafka_bootstrap, PRODUCT_CATALOG, [(moved, "New name", 150, hour_ago)])
    # A late copy of the old record, read after the new one, changes nothing.
    publish(kafka_bootstrap, INVENTORY_EVENTS, [(moved, "Old name", 100, LONG_AGO)])

    with consuming(kafka_bootstrap, f"order-service-move-{uuid4()}", order_sessions):
        wait_for(
            lambda: (
                catalog_rows(order_engine, [moved, legacy_only])
                == {
                    moved: (moved, "New name", 150, hour_ago),
                    legacy_only: (legacy_only, "Legacy", 200, hour_ago),
                }
            )
        )
