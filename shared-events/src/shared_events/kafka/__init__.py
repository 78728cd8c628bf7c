"""Kafka binding of the contracts (the `[kafka]` extra): the record codec."""

from shared_events.kafka.codec import (
    CONTENT_TYPE,
    CONTENT_TYPE_HEADER,
    CONTRACTS_VERSION_HEADER,
    CORRELATION_ID_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    EVENT_VERSION_HEADER,
    TRACEPARENT_HEADER,
    Headers,
    KafkaRecord,
    decode,
    encode,
    header,
)

__all__ = [
    "CONTENT_TYPE",
    "CONTENT_TYPE_HEADER",
    "CONTRACTS_VERSION_HEADER",
    "CORRELATION_ID_HEADER",
    "EVENT_ID_HEADER",
    "EVENT_TYPE_HEADER",
    "EVENT_VERSION_HEADER",
    "TRACEPARENT_HEADER",
    "Headers",
    "KafkaRecord",
    "decode",
    "encode",
    "header",
]
