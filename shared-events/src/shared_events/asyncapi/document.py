"""The AsyncAPI 3.0 document of the saga's Kafka traffic, built from the contracts.

Channels are the topics (event topics and each consumer group's dead-letter topic), with the
settings the saga creates them with. Messages are the registered event versions, their value
the envelope around the committed payload schema (both referenced, never copied), with the
headers the codec writes and the key the event names; a channel also lists the events earlier
releases wrote to it (`former_topics`), which its readers still apply. Operations say who sends
(the producing service's outbox relay) and who receives (each consumer group, with the event
types it applies).
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from shared_events.contracts.event import Event
from shared_events.envelope import CONTRACTS_VERSION
from shared_events.errors import DecodeError
from shared_events.kafka import codec
from shared_events.kafka.dead_letters import writer as dlq
from shared_events.kafka.tracing import TRACE_HEADERS
from shared_events.registry import EventRegistry
from shared_events.schemas.files import ENVELOPE_FILE, schema_of
from shared_events.topics import EVENT_TOPICS, topic_config
from shared_events.topology import SagaService

ASYNCAPI_VERSION: Final = "3.0.0"
KAFKA_BINDING_VERSION: Final = "0.5.0"
SCHEMAS_REF: Final = "./schemas"
"""Where the document finds the committed schemas: `schemas/` beside it."""

Node = dict[str, Any]

_EVENT_HEADERS: Final[Mapping[str, Node]] = {
    codec.EVENT_ID_HEADER: {
        "type": "string",
        "format": "uuid",
        "description": "The envelope's event_id.",
    },
    codec.EVENT_TYPE_HEADER: {"type": "string", "description": "The envelope's event_type."},
    codec.EVENT_VERSION_HEADER: {
        "type": "string",
        "description": "The envelope's event_version, as decimal text.",
    },
    codec.CONTENT_TYPE_HEADER: {"type": "string", "const": codec.CONTENT_TYPE},
    codec.CORRELATION_ID_HEADER: {
        "type": "string",
        "minLength": 1,
        "description": "The envelope's correlation_id: the order id for saga events.",
    },
    codec.CONTRACTS_VERSION_HEADER: {
        "type": "string",
        "minLength": 1,
        "description": (
            "The shared-events version the producer was built with "
            "(the envelope's producer.contracts_version)."
        ),
    },
}
_TRACE_HEADERS: Final[Mapping[str, Node]] = {
    "traceparent": {
        "type": "string",
        "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        "description": (
            "W3C trace context of the span that published the record; absent when nothing traces."
        ),
    },
    "tracestate": {"type": "string", "description": "W3C trace state, beside traceparent."},
}
_DIGITS: Final[Node] = {"type": "string", "pattern": "^[0-9]+$"}
_DEAD_LETTER_HEADERS: Final[Mapping[str, Node]] = {
    dlq.REASON_HEADER: {"type": "string", "description": "Why the record was moved aside."},
    dlq.ERROR_HEADER: {
        "type": "string",
        "description": f"The error, cut to {dlq.MAX_ERROR_CHARS} characters.",
    },
    dlq.ORIGINAL_TOPIC_HEADER: {"type": "string", "description": "Where the record was read."},
    dlq.ORIGINAL_PARTITION_HEADER: {**_DIGITS, "description": "Its partition there."},
    dlq.ORIGINAL_OFFSET_HEADER: {**_DIGITS, "description": "Its offset there."},
    dlq.CONSUMER_HEADER: {"type": "string", "description": "The consumer group that gave up."},
    dlq.FAILED_AT_HEADER: {
        "type": "string",
        "format": "date-time",
        "description": "When it gave up.",
    },
    dlq.VALUE_OMITTED_HEADER: {
        **_DIGITS,
        "description": (
            "Set, to the original value's size in bytes, when the letter was too large "
            "to carry the value."
        ),
    },
}
_DEAD_LETTER_REASONS: Final = (
    dlq.HANDLER_FAILED,
    dlq.UNDECODABLE,
    dlq.UNREADABLE_RECORD,
    *(error.reason for error in DecodeError.__subclasses__()),
)
DEAD_LETTER: Final = "DeadLetter"
"""The message of every dead-letter topic."""


def message_id(event_type: str, version: int) -> str:
    """The id of one event version's message (and of its payload schema) in the document."""
    return f"{event_type}.v{version}"


def build(registry: EventRegistry, services: Sequence[SagaService]) -> Node:
    """The AsyncAPI document of a registry's events as `services` publish and consume them."""
    models = [registry.model(t, v) for t in registry.event_types() for v in registry.versions(t)]
    by_topic = {topic: [m for m in models if m.topic == topic] for topic in EVENT_TOPICS}
    formerly = {topic: [m for m in models if topic in m.former_topics] for topic in EVENT_TOPICS}
    strays = sorted({t for m in models for t in (m.topic, *m.former_topics)} - set(EVENT_TOPICS))
    if strays:
        raise ValueError(f"events on topics shared_events.topics does not name: {strays}")
    _check_topology(registry, services)
    channels = {
        topic: _event_channel(topic, by_topic[topic], formerly[topic], services)
        for topic in EVENT_TOPICS
    }
    for service in services:
        channels[service.dead_letter_topic] = _dead_letter_channel(service)
    operations: Node = {}
    for service in services:
        operations |= _operations(service, by_topic, formerly)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": _info(),
        "defaultContentType": codec.CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": (
                    "The broker `make dev` runs; services and tools take another from "
                    "KAFKA_BOOTSTRAP_SERVERS."
                ),
            }
        },
        "channels": _sorted(channels),
        "operations": _sorted(operations),
        "components": _sorted(
            {
                "schemas": {
                    "Envelope": {"$ref": f"{SCHEMAS_REF}/{ENVELOPE_FILE}"},
                    **{
                        message_id(m.event_type, m.event_version): {
                            "$ref": f"{SCHEMAS_REF}/{m.event_type}/v{m.event_version}.json"
                        }
                        for m in models
                    },
                },
                "messages": {
                    DEAD_LETTER: _dead_letter_message(),
                    **{
                        message_id(m.event_type, m.event_version): _event_message(m, registry)
                        for m in models
                    },
                },
            }
        ),
    }


def _info() -> Node:
    return {
        "title": "Order saga events",
        "version": CONTRACTS_VERSION,
        "description": (
            "The Kafka traffic of the order / payment / inventory saga, generated from the "
            "shared-events contracts (`python -m shared_events.asyncapi generate`). A record's "
            "value is the JSON envelope (schemas/envelope.json) around a payload that follows "
            "schemas/<event_type>/v<event_version>.json; its headers repeat what readers route "
            "on. Every listed version stays readable: consumers get each event upcast to the "
            "newest version of its type."
        ),
    }


def _check_topology(registry: EventRegistry, services: Sequence[SagaService]) -> None:
    known = set(registry.event_types())
    for service in services:
        for topic, event_types in service.handles.items():
            for event_type in event_types:
                if event_type not in known:
                    raise ValueError(f"{service.name} handles unknown event type {event_type}")
                latest = registry.latest(event_type)
                if topic not in (latest.topic, *latest.former_topics):
                    raise ValueError(f"{service.name}: {event_type} is not on {topic}")


def _event_channel(
    topic: str,
    models: Sequence[type[Event]],
    former: Sequence[type[Event]],
    services: Sequence[SagaService],
) -> Node:
    writers = [s.name for s in services if topic in s.writes]
    readers = sorted(s.consumer_group for s in services if topic in s.handles)
    keys: dict[str, list[str]] = {}
    carried = [*models, *former]
    for event_type in sorted({m.event_type for m in carried}):
        field = _key_field(next(m for m in carried if m.event_type == event_type))
        keys.setdefault(field, []).append(event_type)
    keyed = "; ".join(f"{', '.join(types)} by {field}" for field, types in sorted(keys.items()))
    description = (
        f"Written by the {' and '.join(writers) or 'no'} service, read by "
        f"{', '.join(readers) or 'no consumer group'}. Record keys: {keyed}."
    )
    for event_type in sorted({m.event_type for m in former}):
        now = next(m for m in former if m.event_type == event_type).topic
        description += (
            f" Earlier releases wrote {event_type} here (now on {now}): its readers still "
            "apply those records."
        )
    config = topic_config(topic)
    if config.get("cleanup.policy") == "compact":
        description += (
            " Compacted: the latest record of each key stays for good, so a reader starting "
            "from the beginning gets the latest state of every key."
        )
    channel: Node = {
        "address": topic,
        "title": topic,
        "description": description,
        "messages": {
            message_id(m.event_type, m.event_version): _ref(
                "components", "messages", message_id(m.event_type, m.event_version)
            )
            for m in carried
        },
    }
    if config:
        channel["bindings"] = {
            "kafka": {
                "bindingVersion": KAFKA_BINDING_VERSION,
                "topic": topic,
                "topicConfiguration": {
                    # The binding lists cleanup policies; Kafka's setting is comma-separated.
                    key: value.split(",") if key == "cleanup.policy" else value
                    for key, value in config.items()
                },
            }
        }
    return channel


def _dead_letter_channel(service: SagaService) -> Node:
    return {
        "address": service.dead_letter_topic,
        "title": service.dead_letter_topic,
        "description": (
            f"Records the {service.consumer_group} consumer could not apply: undecodable ones "
            "at once, those whose handler kept failing after its attempts. List, show and "
            "replay them with `python -m shared_events.kafka.dead_letters --group "
            f"{service.consumer_group}`."
        ),
        "messages": {DEAD_LETTER: _ref("components", "messages", DEAD_LETTER)},
    }


def _operations(
    service: SagaService,
    by_topic: Mapping[str, Sequence[type[Event]]],
    formerly: Mapping[str, Sequence[type[Event]]],
) -> Node:
    operations: Node = {}
    for topic in service.writes:
        operations[f"{service.name}.send.{topic}"] = {
            "action": "send",
            "channel": _ref("channels", topic),
            "title": f"The {service.name} service publishes {topic}",
            "summary": (
                "Its outbox relay publishes the events its transactions committed "
                "(idempotent producer, acks=all), in commit order per key."
            ),
            "messages": _channel_messages(topic, by_topic[topic]),
            "x-service": service.name,
        }
    operations[f"{service.name}.send.{service.dead_letter_topic}"] = {
        "action": "send",
        "channel": _ref("channels", service.dead_letter_topic),
        "title": f"{service.consumer_group} moves poison messages aside",
        "messages": [_ref("channels", service.dead_letter_topic, "messages", DEAD_LETTER)],
        "x-service": service.name,
    }
    for topic, handled in service.handles.items():
        carried = [*by_topic[topic], *formerly[topic]]
        applied = [m for m in carried if m.event_type in handled]
        skipped = sorted({m.event_type for m in carried} - set(handled))
        operation: Node = {
            "action": "receive",
            "channel": _ref("channels", topic),
            "title": f"{service.consumer_group} applies {', '.join(sorted(handled))}",
            "summary": _receive_summary(handled, service.replays),
            "messages": _channel_messages(topic, applied),
            "bindings": {
                "kafka": {
                    "bindingVersion": KAFKA_BINDING_VERSION,
                    "groupId": {"type": "string", "enum": [service.consumer_group]},
                }
            },
            "x-service": service.name,
        }
        if skipped:
            operation["description"] = f"Skipped (the offset still advances): {', '.join(skipped)}."
        operations[f"{service.name}.receive.{topic}"] = operation
    return operations


def _receive_summary(handled: Sequence[str], replays: Sequence[str]) -> str:
    once = [t for t in handled if t not in replays]
    again = sorted(t for t in handled if t in replays)
    parts = []
    if once:
        parts.append(
            f"{'Each event' if not again else ', '.join(sorted(once)) + ': each event'} once: "
            "its effects and its inbox row commit in one transaction, the offset after that."
        )
    if again:
        parts.append(
            f"{', '.join(again)}: every delivery applied, no inbox row (an upsert that an older "
            "or repeated record never changes), so re-reading the topic from its start rebuilds "
            "the state; the offset is committed after the transaction."
        )
    return " ".join(parts)


def _channel_messages(topic: str, models: Iterable[type[Event]]) -> list[Node]:
    ids = sorted(message_id(m.event_type, m.event_version) for m in models)
    return [_ref("channels", topic, "messages", one) for one in ids]


def _event_message(model: type[Event], registry: EventRegistry) -> Node:
    event_type, version = model.event_type, model.event_version
    ident = message_id(event_type, version)
    schema = schema_of(model)
    field = _key_field(model)
    key = {k: v for k, v in schema["properties"][field].items() if k != "title"}
    headers = {name: dict(node) for name, node in _EVENT_HEADERS.items()}
    headers[codec.EVENT_TYPE_HEADER]["const"] = event_type
    headers[codec.EVENT_VERSION_HEADER]["const"] = str(version)
    message: Node = {
        "name": event_type,
        "title": f"{event_type} v{version}",
        "summary": _first_line(model.__doc__),
        "contentType": codec.CONTENT_TYPE,
        "correlationId": {
            "description": "The envelope's correlation_id (the order id for saga events).",
            "location": f"$message.header#/{codec.CORRELATION_ID_HEADER}",
        },
        "headers": {
            "type": "object",
            "properties": {**headers, **{name: _TRACE_HEADERS[name] for name in TRACE_HEADERS}},
            "required": sorted(_EVENT_HEADERS),
        },
        "payload": {
            "allOf": [
                _ref("components", "schemas", "Envelope"),
                {
                    "type": "object",
                    "properties": {
                        "event_type": {"const": event_type},
                        "event_version": {"const": version},
                        "payload": _ref("components", "schemas", ident),
                    },
                },
            ]
        },
        "bindings": {
            "kafka": {
                "bindingVersion": KAFKA_BINDING_VERSION,
                "key": {**key, "description": f"The record key: the payload's {field}."},
            }
        },
        "x-event-type": event_type,
        "x-event-version": version,
    }
    latest = registry.latest(event_type).event_version
    if version != latest:
        how = "upcast" if registry.has_upcaster(event_type, version) else "read as it is"
        message["description"] = f"Not the newest version: consumers get it as v{latest} ({how})."
    return _sorted(message)


def _dead_letter_message() -> Node:
    headers = {name: dict(node) for name, node in _DEAD_LETTER_HEADERS.items()}
    headers[dlq.REASON_HEADER]["enum"] = sorted(_DEAD_LETTER_REASONS)
    return _sorted(
        {
            "name": DEAD_LETTER,
            "title": "Dead letter",
            "summary": (
                "A record its consumer could not apply: the original key, value and headers, "
                "then dlq.* headers saying why and where it was read."
            ),
            "contentType": "application/octet-stream",
            "headers": {
                "type": "object",
                "description": "The original record's headers, followed by the dlq.* ones.",
                "properties": headers,
                "required": sorted(set(headers) - {dlq.VALUE_OMITTED_HEADER}),
            },
            "payload": {
                "description": (
                    "The original record's value, byte for byte (an envelope, unless it was "
                    "undecodable); none when dlq.value_omitted is set."
                )
            },
            "bindings": {
                "kafka": {
                    "bindingVersion": KAFKA_BINDING_VERSION,
                    "key": {"type": "string", "description": "The original record's key."},
                }
            },
        }
    )


def _key_field(model: type[Event]) -> str:
    field = getattr(model, "key_field", None)
    if field is None or field not in model.model_fields:
        raise ValueError(f"{model.__name__} names no payload field as its key (key_field)")
    return str(field)


def _first_line(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0] if lines else ""


def _ref(*path: str) -> Node:
    return {"$ref": "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in path)}


def _sorted(node: Node) -> Node:
    """The node with its maps' keys sorted, all the way down (lists keep their order)."""
    return {key: _sorted_value(node[key]) for key in sorted(node)}


def _sorted_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _sorted(dict(value))
    if isinstance(value, list | tuple):
        return [_sorted_value(item) for item in value]
    return value
