"""Poison records for the event topics, and where the system under test must put them.

Each record is tagged with `poison.run` / `poison.kind` headers (dead letters keep the original
headers), so one run's letters can be told from any other's in the dead-letter topics.
"""

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import Producer

from saga_e2e.kafka_tap import bootstrap_servers
from shared_events import ItemsReleased, OrderConfirmed, PaymentFailed, new_envelope
from shared_events.contracts.event import Event
from shared_events.contracts.payments import PaymentFailureReason
from shared_events.kafka.dead_letters.reader import DeadLetter, end_offsets, read_dead_letters
from shared_events.kafka.publishing.producer import (
    OutgoingRecord,
    produce_and_flush,
    producer_config,
)
from shared_events.topics import INVENTORY_EVENTS, ORDER_EVENTS, PAYMENT_EVENTS, dead_letter_topic

RUN_HEADER = "poison.run"
KIND_HEADER = "poison.kind"

# Which consumer groups read each event topic (DESIGN.md §1): each must dead-letter a poison.
READERS: Mapping[str, tuple[str, ...]] = {
    ORDER_EVENTS: ("payment-service", "inventory-service"),
    PAYMENT_EVENTS: ("order-service", "inventory-service"),
    INVENTORY_EVENTS: ("order-service",),
}
GROUPS = ("order-service", "payment-service", "inventory-service")

# kind -> the `dlq.reason` the consumers must give it.
KINDS: Mapping[str, str] = {
    "not_json": "not_json",
    "tombstone": "not_json",
    "unknown_event_type": "unknown_event_type",
    "unsupported_event_version": "unsupported_event_version",
    "invalid_payload": "invalid_payload",
    "invalid_envelope": "invalid_envelope",
}


@dataclass(frozen=True)
class Poison:
    """One injected record: where it goes and what the readers must call it."""

    seq: int
    topic: str
    kind: str
    key: bytes
    value: bytes | None


def _base(topic: str) -> dict[str, Any]:
    order_id = uuid.uuid4()
    event: Event
    if topic == ORDER_EVENTS:
        event = OrderConfirmed(order_id=order_id)
    elif topic == PAYMENT_EVENTS:
        event = PaymentFailed(order_id=order_id, reason=PaymentFailureReason.INSUFFICIENT_FUNDS)
    else:
        event = ItemsReleased(order_id=order_id)
    data: dict[str, Any] = new_envelope(event, producer="poison").model_dump(mode="json")
    return data


def _value(topic: str, kind: str) -> bytes | None:
    data = _base(topic)
    if kind == "not_json":
        return b'{"event_type": "OrderConfirmed", "payload": {'
    if kind == "tombstone":
        return None
    if kind == "unknown_event_type":
        data["event_type"] = "NoSuchEvent"
    elif kind == "unsupported_event_version":
        data["event_version"] = 99
    elif kind == "invalid_payload":
        data["payload"] = {"order_id": "not-a-uuid"}
    elif kind == "invalid_envelope":
        data["event_id"] = "not-a-uuid"
    return orjson.dumps(data)


def poison_records(count: int) -> list[Poison]:
    """`count` poison records, kinds and topics taken in turn, random keys (all partitions)."""
    kinds, topics = list(KINDS), list(READERS)
    records = []
    for n in range(count):
        topic, kind = topics[n % len(topics)], kinds[(n // len(topics)) % len(kinds)]
        records.append(Poison(n, topic, kind, uuid.uuid4().hex.encode(), _value(topic, kind)))
    return records


def expected_letters(records: Iterable[Poison]) -> Counter[str]:
    """How many letters each dead-letter topic must receive: one per reader of the topic."""
    expected: Counter[str] = Counter()
    for record in records:
        for group in READERS[record.topic]:
            expected[dead_letter_topic(group)] += 1
    return expected


def inject(
    run: str, records: list[Poison], extra_headers: Sequence[tuple[str, bytes]] = ()
) -> None:
    """Produce the records (idempotent producer, acks=all); fail unless every one was acked.

    `extra_headers` go on every record (e.g. a `correlation_id`, as the codec writes it)."""
    config = producer_config(bootstrap_servers())
    outgoing = [
        OutgoingRecord(
            ref=r.seq,
            topic=r.topic,
            key=r.key,
            value=r.value,
            headers=[(RUN_HEADER, run.encode()), (KIND_HEADER, r.kind.encode()), *extra_headers],
        )
        for r in records
    ]
    outcome = produce_and_flush(Producer(config), outgoing, timeout_s=60.0)
    if outcome.failed:
        raise AssertionError(f"{len(outcome.failed)} poison records not acked: {outcome.failed}")


def dead_letter_marks() -> dict[str, dict[int, int]]:
    """End offsets of every dead-letter topic now; letters of a later run lie beyond them."""
    return {topic: end_offsets(bootstrap_servers(), topic) for topic in _dlq_topics()}


def letters_of(run: str, since: Mapping[str, Mapping[int, int]]) -> dict[str, list[DeadLetter]]:
    """The dead letters of one run, per dead-letter topic."""
    found: dict[str, list[DeadLetter]] = {}
    for topic in _dlq_topics():
        letters = read_dead_letters(bootstrap_servers(), topic, since.get(topic))
        found[topic] = [letter for letter in letters if letter.dlq(RUN_HEADER) == run]
    return found


def letter_problems(run: str, letters: Mapping[str, list[DeadLetter]]) -> list[str]:
    """What is wrong with the letters of a run: wrong reason, consumer or origin headers."""
    problems = []
    for topic, found in letters.items():
        group = topic.removesuffix(".dlq")
        for letter in found:
            kind = letter.dlq(KIND_HEADER) or "?"
            origin_topic = letter.dlq("dlq.original_topic")
            if letter.reason != KINDS.get(kind):
                problems.append(f"{topic} {letter.position}: {kind} has reason {letter.reason}")
            if letter.dlq("dlq.consumer") != group or group not in READERS.get(
                origin_topic or "", ()
            ):
                problems.append(f"{topic} {letter.position}: consumer/origin {origin_topic}")
            if not letter.dlq("dlq.error") or not letter.dlq("dlq.failed_at"):
                problems.append(f"{topic} {letter.position}: no dlq.error/dlq.failed_at")
    return problems


def _dlq_topics() -> list[str]:
    return [dead_letter_topic(group) for group in GROUPS]
