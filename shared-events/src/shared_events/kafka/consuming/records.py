"""A consumed Kafka record as plain typed values."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Message

from shared_events.kafka.codec import (
    CORRELATION_ID_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    header,
)


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    """Where a record was read, and what it holds (headers normalised to bytes)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    @classmethod
    def from_message(cls, message: Message) -> "ConsumedRecord":
        """Copy a (non-error) message out of confluent-kafka's loosely typed accessors."""
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if topic is None or partition is None or offset is None:
            raise ValueError("an error event is not a record")
        raw = message.headers() or []
        pairs = raw.items() if isinstance(raw, dict) else raw
        key, value = message.key(), message.value()
        return cls(
            topic=topic,
            partition=partition,
            offset=offset,
            key=key.encode() if isinstance(key, str) else key,
            value=value.encode() if isinstance(value, str) else value,
            headers=[
                (name, v.encode() if isinstance(v, str) else v)
                for name, v in pairs
                if v is not None
            ],
        )

    @classmethod
    def salvage(cls, message: Message) -> "ConsumedRecord":
        """What can still be read of a record `from_message` choked on: no headers, raw bytes."""
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if topic is None or partition is None or offset is None:
            raise ValueError("an error event is not a record")
        key, value = _raw(message.key), _raw(message.value)
        return cls(topic, partition, offset, key, value, headers=[])

    def log_fields(self, consumer: str) -> dict[str, Any]:
        """Fields every log line about this record carries (event ones read from headers)."""
        return {
            "consumer": consumer,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "event_type": header(self.headers, EVENT_TYPE_HEADER),
            "event_id": header(self.headers, EVENT_ID_HEADER),
            "correlation_id": header(self.headers, CORRELATION_ID_HEADER),
        }


def _raw(read: Callable[[], object]) -> bytes | None:
    try:
        found = read()
    except Exception:
        return None
    if isinstance(found, str):
        return found.encode("utf-8", errors="surrogateescape")
    return found if isinstance(found, bytes) else None
