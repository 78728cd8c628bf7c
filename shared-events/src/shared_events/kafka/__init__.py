"""Kafka binding of the contracts (the `[kafka]` extra).

Here: the record codec (exported), the connection settings (`connection`), the outbox and
inbox tables (`tables`), trace context in headers (`tracing`), what the loops report
(`observer`), set-based SQL helpers (`rows`) and topic provisioning (`provisioning`).
Subpackages: `publishing` (outbox -> relay -> broker), `consuming` (broker -> inbox ->
handlers) and `dead_letters`.
"""

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
