"""Envelope <-> Kafka record: JSON value, partition key, and the headers readers route on."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import orjson

from shared_events.contracts.event import Event
from shared_events.envelope import Envelope
from shared_events.errors import InvalidEnvelope, NotJson
from shared_events.event_registry import EVENT_REGISTRY
from shared_events.registry import EventRegistry

CONTENT_TYPE: Final = "application/json"

EVENT_ID_HEADER: Final = "event_id"
EVENT_TYPE_HEADER: Final = "event_type"
EVENT_VERSION_HEADER: Final = "event_version"
CONTENT_TYPE_HEADER: Final = "content-type"
CORRELATION_ID_HEADER: Final = "correlation_id"
CONTRACTS_VERSION_HEADER: Final = "contracts_version"
TRACEPARENT_HEADER: Final = "traceparent"

Headers = Sequence[tuple[str, bytes | str | None]]
"""Record headers as confluent-kafka hands them over (`message.headers()`)."""


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """What to hand the producer: topic, key, value and headers of one event."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def encode(envelope: Envelope[Event], *, trace: Sequence[tuple[str, bytes]] = ()) -> KafkaRecord:
    """Turn an envelope into a Kafka record on its event's topic, keyed by the event's key.

    `trace`: the W3C trace headers (`traceparent`, `tracestate`) it carries, if any.
    """
    payload = envelope.payload
    headers = [
        (EVENT_ID_HEADER, str(envelope.event_id).encode()),
        (EVENT_TYPE_HEADER, envelope.event_type.encode()),
        (EVENT_VERSION_HEADER, str(envelope.event_version).encode()),
        (CONTENT_TYPE_HEADER, CONTENT_TYPE.encode()),
        (CORRELATION_ID_HEADER, envelope.correlation_id.encode()),
        (CONTRACTS_VERSION_HEADER, envelope.producer.contracts_version.encode()),
    ]
    headers.extend(trace)
    return KafkaRecord(
        topic=payload.topic,
        key=payload.key().encode(),
        value=orjson.dumps(envelope.model_dump(mode="json")),
        headers=headers,
    )


def decode(
    value: bytes | None,
    headers: Headers | None = None,
    *,
    registry: EventRegistry = EVENT_REGISTRY,
) -> Envelope[Event]:
    """Turn a record value into an envelope of the newest version; raises a `DecodeError`."""
    if value is None:
        raise NotJson("the record has no value")
    content_type = header(headers, CONTENT_TYPE_HEADER)
    if content_type is not None and content_type.split(";")[0].strip() != CONTENT_TYPE:
        raise NotJson(f"content-type is {content_type!r}, expected {CONTENT_TYPE!r}")
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        raise NotJson(f"the record value is not JSON: {error}") from error
    if isinstance(data, dict):
        _check_headers_agree(data, headers)
    return registry.parse_envelope(data)


def header(headers: Headers | None, name: str) -> str | None:
    """The last value of a header as text, or None when absent (e.g. `traceparent`)."""
    found: str | None = None
    for key, raw in headers or ():
        if key == name and raw is not None:
            found = raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")
    return found


def _check_headers_agree(data: dict[str, object], headers: Headers | None) -> None:
    # The value is the source of truth; headers only help routing, so a mismatch is a bug.
    for name in (EVENT_TYPE_HEADER, EVENT_VERSION_HEADER):
        said = header(headers, name)
        if said is not None and said != str(data.get(name)):
            raise InvalidEnvelope(
                f"header {name}={said!r} disagrees with the value's {data.get(name)!r}"
            )
