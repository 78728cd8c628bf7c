"""Regressions: no poison record may stop the consumer loop or hold its partition for good."""

import uuid
from typing import Any

import orjson
from confluent_kafka import KafkaError, TopicPartition
from sqlalchemy import MetaData

from shared_events import EventRegistry, OrderCancelled, new_envelope
from shared_events.kafka.codec import encode, header
from shared_events.kafka.consuming.consumer import EventConsumer
from shared_events.kafka.consuming.records import ConsumedRecord
from shared_events.kafka.dead_letters.writer import DeadLetterFailed, DeadLetterQueue
from shared_events.kafka.publishing.producer import OutgoingRecord, ProduceOutcome
from shared_events.kafka.tables import event_tables


class FakeMessage:
    """Just enough of confluent_kafka.Message; `broken_headers` makes headers() raise."""

    def __init__(
        self,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
        *,
        offset: int = 7,
        broken_headers: bool = False,
    ) -> None:
        self._value, self._headers, self._offset = value, headers, offset
        self.broken_headers = broken_headers

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "order-events"

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        if self.broken_headers:
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
        return self._headers


class FakeKafkaConsumer:
    def __init__(self) -> None:
        self.paused: list[tuple[str, int]] = []

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused += [(tp.topic, tp.partition) for tp in partitions]

    def seek(self, partition: TopicPartition) -> None:
        pass


class FakeDeadLetters:
    """Records what would be dead-lettered; `down` makes every send fail like a broker outage."""

    def __init__(self) -> None:
        self.sent: list[tuple[ConsumedRecord, str, str]] = []
        self.down = False

    def send(self, record: ConsumedRecord, *, reason: str, error: str) -> None:
        if self.down:
            raise DeadLetterFailed("Local: Message timed out")
        self.sent.append((record, reason, error))

    def close(self) -> None:
        pass


class ExplodingRegistry(EventRegistry):
    def parse_envelope(self, data: object) -> Any:
        raise RecursionError("maximum recursion depth exceeded")


def consumer_with(registry: EventRegistry | None = None) -> tuple[EventConsumer, FakeDeadLetters]:
    _, processed = event_tables("t", MetaData())
    consumer = EventConsumer(
        bootstrap_servers="127.0.0.1:1",
        group_id="g",
        topics=["order-events"],
        handlers={},
        session_factory=None,  # type: ignore[arg-type]  # no message here reaches a handler
        processed_table=processed,
        dead_letter_topic="g.dlq",
        **({"registry": registry} if registry is not None else {}),
    )
    letters = FakeDeadLetters()
    consumer._retries.dlq = letters  # type: ignore[assignment]
    consumer._running = True
    return consumer, letters


def committed_next(consumer: EventConsumer) -> int | None:
    pending = {(tp.topic, tp.partition): tp.offset for tp in consumer._progress.take_pending()}
    return pending.get(("order-events", 2))


def test_a_record_whose_headers_cannot_be_read_is_dead_lettered_not_fatal() -> None:
    consumer, letters = consumer_with()
    consumer._on_batch(FakeKafkaConsumer(), [FakeMessage(b"{}", broken_headers=True)])  # type: ignore[arg-type]
    [(record, reason, error)] = letters.sent
    assert reason == "unreadable_record"
    assert "UnicodeDecodeError" in error
    assert (record.key, record.value, record.headers) == (b"k", b"{}", [])
    assert committed_next(consumer) == 8


def test_a_decoder_crash_on_odd_input_is_dead_lettered_not_fatal() -> None:
    consumer, letters = consumer_with(ExplodingRegistry())
    consumer._on_batch(FakeKafkaConsumer(), [FakeMessage(b'{"a": 1}')])  # type: ignore[arg-type]
    [(_, reason, error)] = letters.sent
    assert (reason, error) == ("undecodable", "RecursionError: maximum recursion depth exceeded")
    assert committed_next(consumer) == 8


def test_a_tombstone_is_dead_lettered_as_not_json() -> None:
    consumer, letters = consumer_with()
    consumer._on_batch(FakeKafkaConsumer(), [FakeMessage(None)])  # type: ignore[arg-type]
    assert [reason for _, reason, _ in letters.sent] == ["not_json"]
    assert consumer.dead_lettered == 1 and committed_next(consumer) == 8


def test_an_unwritable_dead_letter_topic_holds_the_partition_and_turns_unhealthy() -> None:
    consumer, letters = consumer_with()
    kafka = FakeKafkaConsumer()
    letters.down = True
    consumer._on_batch(kafka, [FakeMessage(b"not json")])  # type: ignore[arg-type]
    assert kafka.paused == [("order-events", 2)]
    assert consumer._progress.held_offset("order-events", 2) == 7
    assert committed_next(consumer) is None
    assert not consumer.healthy and "dead-letter publish failed" in (consumer.last_error or "")

    letters.down = False
    consumer._progress.forget([("order-events", 2)])  # the hold expired and it was re-read
    consumer._on_batch(kafka, [FakeMessage(b"not json")])  # type: ignore[arg-type]
    assert consumer.healthy and consumer.dead_lettered == 1
    assert committed_next(consumer) == 8


def test_a_letter_too_large_for_the_dead_letter_topic_goes_without_its_value(
    monkeypatch: Any,
) -> None:
    published: list[OutgoingRecord] = []

    def produce_and_flush(_producer: Any, records: list[OutgoingRecord], _t: float) -> Any:
        [letter] = records
        published.append(letter)
        if letter.value is not None:
            too_large = KafkaError.MSG_SIZE_TOO_LARGE
            return ProduceOutcome(failed={0: "too large"}, codes={0: too_large})
        return ProduceOutcome(delivered=[0])

    monkeypatch.setattr(
        "shared_events.kafka.dead_letters.writer.produce_and_flush", produce_and_flush
    )
    monkeypatch.setattr(
        "shared_events.kafka.dead_letters.writer.Producer", lambda _config: object()
    )
    cancelled = OrderCancelled(order_id=uuid.uuid4(), reason="customer_cancelled")
    envelope = new_envelope(cancelled, producer="order")
    record = encode(envelope)
    big_header = ("blob", b"x" * 5000)
    consumed = ConsumedRecord(
        "order-events", 1, 42, record.key, b"v" * 2_000_000, [*record.headers, big_header]
    )
    DeadLetterQueue("g.dlq", "g", "127.0.0.1:1").send(consumed, reason="not_json", error="e" * 3000)

    first, second = published
    assert first.value == consumed.value
    assert second.value is None and second.key == record.key
    assert header(second.headers, "dlq.value_omitted") == "2000000"
    assert header(second.headers, "dlq.original_offset") == "42"
    assert header(second.headers, "dlq.error") == "e" * 2000
    assert header(second.headers, "event_id") == str(envelope.event_id)
    assert header(second.headers, "blob") is None


def test_a_dead_letter_topic_that_refuses_for_other_reasons_still_fails_the_send(
    monkeypatch: Any,
) -> None:
    calls: list[int] = []

    def produce_and_flush(_producer: Any, records: list[OutgoingRecord], _t: float) -> Any:
        calls.append(1)
        return ProduceOutcome(failed={0: "timed out"}, codes={0: KafkaError._MSG_TIMED_OUT})

    monkeypatch.setattr(
        "shared_events.kafka.dead_letters.writer.produce_and_flush", produce_and_flush
    )
    monkeypatch.setattr(
        "shared_events.kafka.dead_letters.writer.Producer", lambda _config: object()
    )
    consumed = ConsumedRecord("order-events", 1, 42, b"k", orjson.dumps({}), [])
    queue = DeadLetterQueue("g.dlq", "g", "127.0.0.1:1")
    try:
        queue.send(consumed, reason="not_json", error="e")
    except DeadLetterFailed:
        pass
    else:
        raise AssertionError("a timed-out dead letter must not count as sent")
    assert calls == [1]
