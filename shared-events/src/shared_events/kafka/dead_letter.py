"""Dead letters: the original record plus headers saying where it came from and why it failed."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from confluent_kafka import Producer

from shared_events.kafka.consumed import ConsumedRecord
from shared_events.kafka.producer import (
    OutgoingRecord,
    delivery_timeout_s,
    produce_and_flush,
    producer_config,
)

REASON_HEADER: Final = "dlq.reason"
ERROR_HEADER: Final = "dlq.error"
ORIGINAL_TOPIC_HEADER: Final = "dlq.original_topic"
ORIGINAL_PARTITION_HEADER: Final = "dlq.original_partition"
ORIGINAL_OFFSET_HEADER: Final = "dlq.original_offset"
CONSUMER_HEADER: Final = "dlq.consumer"
FAILED_AT_HEADER: Final = "dlq.failed_at"

HANDLER_FAILED: Final = "handler_failed"
"""`dlq.reason` of an event whose handler kept failing; decode failures use their own reason."""

MAX_ERROR_CHARS: Final = 2000


def dead_letter_headers(
    record: ConsumedRecord,
    *,
    reason: str,
    error: str,
    consumer: str,
    failed_at: datetime | None = None,
) -> list[tuple[str, bytes]]:
    """The original headers followed by the `dlq.*` headers describing the failure."""
    failed_at = failed_at or datetime.now(UTC)
    return record.headers + [
        (REASON_HEADER, reason.encode()),
        (ERROR_HEADER, error[:MAX_ERROR_CHARS].encode("utf-8", errors="replace")),
        (ORIGINAL_TOPIC_HEADER, record.topic.encode()),
        (ORIGINAL_PARTITION_HEADER, str(record.partition).encode()),
        (ORIGINAL_OFFSET_HEADER, str(record.offset).encode()),
        (CONSUMER_HEADER, consumer.encode()),
        (FAILED_AT_HEADER, failed_at.isoformat().encode()),
    ]


class DeadLetterFailed(Exception):
    """The dead-letter topic did not acknowledge the record; the offset must not move."""


class DeadLetterQueue:
    """Publishes failed records to one dead-letter topic, waiting for the broker's ack."""

    def __init__(self, topic: str, consumer: str, producer: str | Mapping[str, Any]) -> None:
        self.topic = topic
        self.consumer = consumer
        self._config = producer_config(producer)
        self._producer: Producer | None = None

    def send(self, record: ConsumedRecord, *, reason: str, error: str) -> None:
        """Publish `record` with its failure headers; raise `DeadLetterFailed` if not acked."""
        if self._producer is None:
            self._producer = Producer(self._config)
        letter = OutgoingRecord(
            ref=0,
            topic=self.topic,
            key=record.key,
            value=record.value,
            headers=dead_letter_headers(record, reason=reason, error=error, consumer=self.consumer),
        )
        outcome = produce_and_flush(self._producer, [letter], delivery_timeout_s(self._config))
        if outcome.fatal:
            self._producer = None
        if outcome.failed:
            raise DeadLetterFailed(outcome.failed[0])

    def close(self) -> None:
        """Flush anything still queued and drop the producer."""
        if self._producer is not None:
            self._producer.flush(5.0)
            self._producer = None
