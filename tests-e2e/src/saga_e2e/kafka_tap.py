"""Raw Kafka access for the few e2e tests that must inject a duplicate or reordered event."""

import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from shared_events.kafka.codec import Headers, header


def bootstrap_servers() -> str:
    """Kafka of the system under test, from env (KAFKA_BOOTSTRAP_SERVERS or KAFKA_HOST/PORT)."""
    explicit = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if explicit:
        return explicit
    return f"{os.environ.get('KAFKA_HOST', '127.0.0.1')}:{os.environ.get('KAFKA_PORT', '9092')}"


@dataclass(frozen=True)
class Record:
    """One record as it sits on a topic."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes | str | None]]


def find_record(
    topic: str, key: str, event_type: str, since: datetime, timeout_s: float = 20.0
) -> Record:
    """Scan a topic from `since` for the first record with this key and event_type header."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers(),
            "group.id": "e2e-tap",
            "enable.auto.commit": False,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        start_ms = int((since - timedelta(seconds=5)).timestamp() * 1000)
        wanted = [TopicPartition(topic, p, start_ms) for p in metadata.topics[topic].partitions]
        consumer.assign(consumer.offsets_for_times(wanted, timeout=10))
        until = time.monotonic() + timeout_s
        while time.monotonic() < until:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            if (
                message.key() == key.encode()
                and header(_headers(message), "event_type") == event_type
            ):
                return Record(
                    topic,
                    message.partition() or 0,
                    message.offset() or 0,
                    message.key() or b"",
                    message.value() or b"",
                    _headers(message),
                )
        raise AssertionError(f"no {event_type} with key {key} on {topic} within {timeout_s}s")
    finally:
        consumer.close()


def _headers(message: Message) -> list[tuple[str, bytes | str | None]]:
    raw = message.headers() or []
    return list(raw.items()) if isinstance(raw, dict) else list(raw)


def publish(topic: str, key: bytes, value: bytes, headers: Headers) -> Record:
    """Produce one record (idempotent producer, acks=all) and return where it landed."""
    producer = Producer({"bootstrap.servers": bootstrap_servers(), "enable.idempotence": True})
    landed: list[Message] = []
    producer.produce(
        topic,
        value=value,
        key=key,
        headers=list(headers),
        on_delivery=lambda err, msg: landed.append(msg) if err is None else None,
    )
    producer.flush(15)
    if not landed:
        raise AssertionError(f"could not publish to {topic}")
    message = landed[0]
    return Record(topic, message.partition() or 0, message.offset() or 0, key, value, list(headers))


def wait_consumed(group: str, record: Record, timeout_s: float = 30.0) -> None:
    """Wait until a consumer group has committed past `record` on its partition."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers()})
    until = time.monotonic() + timeout_s
    request = [
        ConsumerGroupTopicPartitions(group, [TopicPartition(record.topic, record.partition)])
    ]
    while time.monotonic() < until:
        futures = admin.list_consumer_group_offsets(request)
        result = futures[group].result(timeout=10)
        committed = result.topic_partitions[0].offset
        if committed > record.offset:
            return
        time.sleep(0.2)
    raise AssertionError(
        f"{group} did not consume {record.topic}[{record.partition}]"
        f"@{record.offset} within {timeout_s}s"
    )
