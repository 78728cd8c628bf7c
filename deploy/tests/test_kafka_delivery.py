"""At-least-once delivery on the real broker: idempotent producer, manual commits, resume."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from saga_infra.endpoints import Infra

MESSAGES = 1_000
KEYS = 25
PARTITIONS = 3
COMMITTED_IN_FIRST_RUN = 400
UNCOMMITTED_IN_FIRST_RUN = 150


def _create_topic(bootstrap: str) -> str:
    topic = f"test-delivery-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, PARTITIONS, 1)], operation_timeout=15)
    futures[topic].result(timeout=30)
    return topic


def _produce(bootstrap: str, topic: str) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5}
    )
    failures: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _: Message) -> None:
        if err is not None:
            failures.append(err)

    for seq in range(MESSAGES):
        key = f"order-{seq % KEYS}"
        producer.produce(topic, key=key, value=str(seq).encode(), on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert failures == []


def _consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 10_000,
        }
    )


def _consume(consumer: Consumer, topic: str, count: int, timeout: float = 60.0) -> list[Message]:
    received: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        assert msg.error() is None, msg.error()
        received.append(msg)
    return received


def _position(msg: Message) -> tuple[int, int]:
    partition, offset = msg.partition(), msg.offset()
    assert partition is not None and offset is not None
    return partition, offset


def _sequences_by_key(messages: list[Message]) -> dict[str, list[int]]:
    by_key: dict[str, list[int]] = defaultdict(list)
    for msg in messages:
        key, value = msg.key(), msg.value()
        assert key is not None and value is not None
        by_key[key.decode()].append(int(value))
    return by_key


def test_consumer_group_resumes_after_last_committed_offset(infra: Infra) -> None:
    topic = _create_topic(infra.kafka_bootstrap)
    _produce(infra.kafka_bootstrap, topic)
    group = f"test-group-{uuid.uuid4().hex[:12]}"

    first = _consumer(infra.kafka_bootstrap, group)
    first.subscribe([topic])
    processed = _consume(first, topic, COMMITTED_IN_FIRST_RUN)
    assert len(processed) == COMMITTED_IN_FIRST_RUN
    next_offsets: dict[int, int] = {}
    for msg in processed:
        partition, offset = _position(msg)
        next_offsets[partition] = max(next_offsets.get(partition, 0), offset + 1)
    first.commit(
        offsets=[TopicPartition(topic, p, o) for p, o in next_offsets.items()], asynchronous=False
    )
    # Handled but never committed: a crash here means these are delivered again.
    uncommitted = _consume(first, topic, UNCOMMITTED_IN_FIRST_RUN)
    first.close()

    second = _consumer(infra.kafka_bootstrap, group)
    committed = second.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=15)
    committed_at = {tp.partition: tp.offset for tp in committed if tp.offset >= 0}
    assert committed_at == next_offsets
    second.subscribe([topic])
    remaining = MESSAGES - COMMITTED_IN_FIRST_RUN
    resumed = _consume(second, topic, remaining)
    second.close()

    # Resumes exactly after the last committed offset of each partition ...
    first_offsets: dict[int, int] = {}
    for msg in resumed:
        first_offsets.setdefault(*_position(msg))
    for partition, offset in first_offsets.items():
        assert offset == committed_at.get(partition, 0)
    # ... redelivers what was handled but not committed, and loses nothing.
    resumed_values = {int(m.value() or b"-1") for m in resumed}
    assert {int(m.value() or b"-1") for m in uncommitted} <= resumed_values
    all_values = {int(m.value() or b"-1") for m in processed} | resumed_values
    assert all_values == set(range(MESSAGES))
    assert len(resumed) == remaining
    # Per-key order holds within each run.
    for run in (processed, resumed):
        for key, seqs in _sequences_by_key(run).items():
            assert seqs == sorted(seqs), key
