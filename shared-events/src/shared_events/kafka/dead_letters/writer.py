"""Dead letters: the original record plus headers saying where it came from and why it failed."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from confluent_kafka import KafkaError, Producer

from shared_events.kafka.connection import KafkaConnection, KafkaTarget
from shared_events.kafka.consuming.records import ConsumedRecord
from shared_events.kafka.publishing.producer import (
    OutgoingRecord,
    ProduceOutcome,
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
VALUE_OMITTED_HEADER: Final = "dlq.value_omitted"
"""Set (to the original value's size) when the letter was too large to carry the value."""
DLQ_HEADER_PREFIX: Final = "dlq."

HANDLER_FAILED: Final = "handler_failed"
"""`dlq.reason` of an event whose handler kept failing; decode failures use their own reason."""
UNDECODABLE: Final = "undecodable"
"""`dlq.reason` when decoding raised something other than a `DecodeError` (a decoder bug)."""
UNREADABLE_RECORD: Final = "unreadable_record"
"""`dlq.reason` when the client could not even read the record (e.g. non-UTF-8 header names)."""

MAX_ERROR_CHARS: Final = 2000

# A record the dead-letter topic can never take: waiting would stall the partition for good.
_TOO_LARGE: Final = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE})
# A dead-letter topic that does not answer should stall the loop for seconds, not half a minute.
_DLQ_TIMEOUT_MS: Final = 10_000
_SHORT_BYTES: Final = 1024


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

    def __init__(
        self, topic: str, consumer: str, producer: KafkaTarget | Mapping[str, Any]
    ) -> None:
        self.topic = topic
        self.consumer = consumer
        self._config = producer_config(producer)
        if isinstance(producer, str | KafkaConnection):
            self._config["message.timeout.ms"] = _DLQ_TIMEOUT_MS
        self._producer: Producer | None = None

    def send(self, record: ConsumedRecord, *, reason: str, error: str) -> None:
        """Publish `record` with its failure headers; raise `DeadLetterFailed` if not acked.

        A record too large for the dead-letter topic goes without its value (the letter says
        so, and where the original sits), so an oversized poison message cannot stall.
        """
        headers = dead_letter_headers(record, reason=reason, error=error, consumer=self.consumer)
        outcome = self._publish(record.key, record.value, headers)
        if outcome.failed and outcome.codes.get(0) in _TOO_LARGE:
            # Keep what identifies the record (short headers, the key) and where it sits.
            size = str(len(record.value or b"")).encode()
            short = [
                (name, value)
                for name, value in headers
                if name.startswith(DLQ_HEADER_PREFIX) or len(value) <= _SHORT_BYTES
            ]
            key = record.key if record.key is None or len(record.key) <= _SHORT_BYTES else None
            outcome = self._publish(key, None, [*short, (VALUE_OMITTED_HEADER, size)])
        if outcome.failed:
            raise DeadLetterFailed(outcome.failed[0])

    def _publish(
        self, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> ProduceOutcome:
        if self._producer is None:
            self._producer = Producer(self._config)
        letter = OutgoingRecord(ref=0, topic=self.topic, key=key, value=value, headers=headers)
        outcome = produce_and_flush(self._producer, [letter], delivery_timeout_s(self._config))
        if outcome.fatal:
            self._producer = None
        return outcome

    def close(self) -> None:
        """Flush anything still queued and drop the producer."""
        if self._producer is not None:
            self._producer.flush(5.0)
            self._producer = None
