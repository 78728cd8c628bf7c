"""Reading dead letters back, and replaying their original records onto the original topic."""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from shared_events.kafka.codec import (
    CORRELATION_ID_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    header,
)
from shared_events.kafka.connection import KafkaTarget, client_config
from shared_events.kafka.consuming.records import ConsumedRecord
from shared_events.kafka.dead_letters.writer import (
    CONSUMER_HEADER,
    DLQ_HEADER_PREFIX,
    ERROR_HEADER,
    FAILED_AT_HEADER,
    ORIGINAL_OFFSET_HEADER,
    ORIGINAL_PARTITION_HEADER,
    ORIGINAL_TOPIC_HEADER,
    REASON_HEADER,
    VALUE_OMITTED_HEADER,
)
from shared_events.kafka.publishing.producer import (
    OutgoingRecord,
    delivery_timeout_s,
    produce_and_flush,
    producer_config,
)

TIMEOUT_S = 15.0


class DeadLetterError(Exception):
    """The dead letters could not be read or replayed; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of a dead-letter topic and what its `dlq.*` headers say."""

    record: ConsumedRecord

    @property
    def position(self) -> str:
        """Where the letter sits in the dead-letter topic: `partition@offset`."""
        return f"{self.record.partition}@{self.record.offset}"

    def dlq(self, name: str) -> str | None:
        """One `dlq.*` header (or any header) as text."""
        return header(self.record.headers, name)

    @property
    def reason(self) -> str:
        return self.dlq(REASON_HEADER) or "?"

    @property
    def event_type(self) -> str | None:
        return self.dlq(EVENT_TYPE_HEADER)

    @property
    def event_id(self) -> str | None:
        return self.dlq(EVENT_ID_HEADER)

    @property
    def correlation_id(self) -> str | None:
        """The saga (order id) the failed record belonged to, when it says so."""
        return self.dlq(CORRELATION_ID_HEADER)

    @property
    def error(self) -> str:
        return self.dlq(ERROR_HEADER) or ""

    @property
    def failed_at(self) -> str | None:
        return self.dlq(FAILED_AT_HEADER)

    @property
    def origin(self) -> tuple[str, int, int]:
        """Topic, partition and offset of the record that failed."""
        topic = self.dlq(ORIGINAL_TOPIC_HEADER)
        partition, offset = self.dlq(ORIGINAL_PARTITION_HEADER), self.dlq(ORIGINAL_OFFSET_HEADER)
        if not topic or partition is None or offset is None:
            raise DeadLetterError(f"dead letter {self.position} has no dlq.original_* headers")
        return topic, int(partition), int(offset)

    def summary(self, error_chars: int = 80) -> str:
        """One line: position, origin, reason, event type, failure time, error (truncated)."""
        error = " ".join((self.dlq(ERROR_HEADER) or "").split())
        if len(error) > error_chars:
            error = error[: error_chars - 3] + "..."
        topic, partition = self.dlq(ORIGINAL_TOPIC_HEADER), self.dlq(ORIGINAL_PARTITION_HEADER)
        origin = f"{topic}[{partition}]@{self.dlq(ORIGINAL_OFFSET_HEADER)}"
        return (
            f"{self.position}  {origin}  reason={self.reason}  "
            f"event_type={self.event_type or '-'}  consumer={self.dlq(CONSUMER_HEADER) or '-'}  "
            f"failed_at={self.dlq(FAILED_AT_HEADER) or '-'}  error={error or '-'}"
        )


def read_dead_letters(
    bootstrap: KafkaTarget,
    topic: str,
    since: Mapping[int, int] | None = None,
    *,
    latest: int | None = None,
) -> list[DeadLetter]:
    """The records a dead-letter topic holds now (from `since` offsets; only the `latest` of
    each partition when given), by partition and offset."""
    with _reader(bootstrap) as consumer:
        ranges = {p: _watermarks(consumer, topic, p) for p in _partitions(consumer, topic)}
        if since:
            ranges = {p: (max(low, since.get(p, low)), high) for p, (low, high) in ranges.items()}
        if latest is not None:
            ranges = {p: (max(low, high - latest), high) for p, (low, high) in ranges.items()}
        records = _read(consumer, topic, ranges)
    return [DeadLetter(record) for record in records]


def end_offsets(bootstrap: KafkaTarget, topic: str) -> dict[int, int]:
    """The high watermark of each partition: where records produced from now on will start."""
    with _reader(bootstrap) as consumer:
        return {p: _watermarks(consumer, topic, p)[1] for p in _partitions(consumer, topic)}


def read_record(bootstrap: KafkaTarget, topic: str, partition: int, offset: int) -> ConsumedRecord:
    """The record at `topic[partition]@offset`; `DeadLetterError` if it is not there (any more)."""
    with _reader(bootstrap) as consumer:
        if partition not in _partitions(consumer, topic):
            raise DeadLetterError(f"{topic} has no partition {partition}")
        low, high = _watermarks(consumer, topic, partition)
        if not low <= offset < high:
            held = f"offsets {low}..{high - 1}" if high > low else "no records"
            raise DeadLetterError(f"{topic}[{partition}] has no offset {offset} (holds {held})")
        records = _read(consumer, topic, {partition: (offset, offset + 1)})
    if not records or records[0].offset != offset:
        raise DeadLetterError(f"{topic}[{partition}]@{offset} could not be read")
    return records[0]


def original_record(bootstrap: KafkaTarget, letter: DeadLetter) -> OutgoingRecord:
    """What to re-produce: the original key, value and headers, without the `dlq.*` ones."""
    topic, partition, offset = letter.origin
    if letter.dlq(VALUE_OMITTED_HEADER) is not None:
        # The letter was too large to carry the value: take the record from its source.
        source = read_record(bootstrap, topic, partition, offset)
        key, value, headers = source.key, source.value, source.headers
    else:
        key, value, headers = letter.record.key, letter.record.value, letter.record.headers
    kept = [(name, raw) for name, raw in headers if not name.startswith(DLQ_HEADER_PREFIX)]
    return OutgoingRecord(ref=letter.position, topic=topic, key=key, value=value, headers=kept)


def replay(bootstrap: KafkaTarget, letters: Iterable[DeadLetter]) -> list[tuple[DeadLetter, str]]:
    """Re-produce each letter's original record (idempotent producer); (letter, where it landed)."""
    letters = list(letters)
    records = [original_record(bootstrap, letter) for letter in letters]
    config = producer_config(bootstrap)
    producer = Producer(config)
    outcome = produce_and_flush(producer, records, delivery_timeout_s(config))
    if outcome.failed:
        ref, error = next(iter(outcome.failed.items()))
        raise DeadLetterError(f"replay of {ref} failed: {error} ({len(outcome.failed)} failed)")
    return [(letter, outcome.positions.get(letter.position, "?")) for letter in letters]


class _reader:
    """A throwaway consumer that reads by assignment and never commits."""

    def __init__(self, bootstrap: KafkaTarget) -> None:
        self.consumer = Consumer(
            {
                **client_config(bootstrap),
                "group.id": f"dlq-tool-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "log_level": 0,
            }
        )

    def __enter__(self) -> Consumer:
        return self.consumer

    def __exit__(self, *_exc: object) -> None:
        self.consumer.close()


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    try:
        metadata = consumer.list_topics(topic, timeout=TIMEOUT_S).topics.get(topic)
    except KafkaException as error:
        raise DeadLetterError(f"broker did not answer: {error}") from error
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise DeadLetterError(f"topic {topic} does not exist")
    return sorted(metadata.partitions)


def _watermarks(consumer: Consumer, topic: str, partition: int) -> tuple[int, int]:
    try:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=TIMEOUT_S
        )
    except KafkaException as error:
        raise DeadLetterError(f"broker did not answer: {error}") from error
    return int(low), int(high)


def _read(
    consumer: Consumer, topic: str, ranges: dict[int, tuple[int, int]]
) -> list[ConsumedRecord]:
    """Records of `[start, end)` per partition (fewer when offsets have gaps, e.g. markers)."""
    wanted = {p: (start, end) for p, (start, end) in ranges.items() if start < end}
    if not wanted:
        return []
    consumer.assign([TopicPartition(topic, p, start) for p, (start, _) in wanted.items()])
    found: list[ConsumedRecord] = []
    open_partitions = set(wanted)
    idle = 0
    while open_partitions and idle < int(TIMEOUT_S / 0.5):
        batch = consumer.consume(500, 0.5)
        idle = 0 if batch else idle + 1
        for message in batch:
            partition = message.partition()
            if partition not in open_partitions:
                continue
            end = wanted[partition][1]
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    # Nothing more before `end` (the rest were compaction gaps or markers).
                    open_partitions.discard(partition)
                continue
            record = ConsumedRecord.from_message(message)
            if record.offset < end:
                found.append(record)
            if record.offset >= end - 1:
                open_partitions.discard(partition)
    if open_partitions:
        raise DeadLetterError(f"reading {topic} timed out (partitions {sorted(open_partitions)})")
    return sorted(found, key=lambda r: (r.partition, r.offset))
