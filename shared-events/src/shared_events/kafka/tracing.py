"""One trace per saga: trace context staged with each outbox row, carried in Kafka headers.

An order's trace starts at the HTTP request that placed it. An event staged there carries that
request's context (W3C `traceparent`, `tracestate`) in its outbox row. The relay publishes it
under a PRODUCER span, child of that context, and the record carries the producer span's
context. The consumer handles it under a CONSUMER span, child of the record's context, and
the events the handling stages carry that span's context, and so on to the order's end.

A batch of several events is applied in one transaction under a span of its own, linked to
each event's context; every event still gets its own span in its own trace. This module needs
only the OpenTelemetry API: with no SDK configured (`telemetry.configure_tracing`) every span
is a no-op.
"""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any
from uuid import UUID

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared_events.envelope import Envelope
from shared_events.kafka.consuming.records import ConsumedRecord

TRACE_HEADERS = ("traceparent", "tracestate")

_tracer = trace.get_tracer("shared_events.kafka")
_w3c = TraceContextTextMapPropagator()
# While a consumer applies events: each event's id -> the context of its CONSUMER span.
_handling: ContextVar[Mapping[UUID, Context] | None] = ContextVar(
    "shared_events.handling", default=None
)


def trace_headers(causation_id: UUID | None = None) -> list[tuple[str, bytes]]:
    """The trace headers of an event staged now: its cause's span while a consumer applies
    the cause, else the current span (e.g. the HTTP request's); none when nothing traces."""
    handled = _handling.get()
    context = handled.get(causation_id) if handled and causation_id is not None else None
    return _inject(context)


def context_of(headers: Sequence[tuple[str, bytes]]) -> Context:
    """The trace context that record or outbox headers carry (empty when they carry none)."""
    carrier = {
        name: value.decode("utf-8", errors="replace")
        for name, value in headers
        if name in TRACE_HEADERS
    }
    return _w3c.extract(carrier)


def with_trace_headers(
    headers: Sequence[tuple[str, bytes]], context: Context
) -> list[tuple[str, bytes]]:
    """`headers` with their trace headers replaced by `context`'s."""
    kept = [(name, value) for name, value in headers if name not in TRACE_HEADERS]
    return kept + _inject(context)


@contextmanager
def handling(group: str, events: Sequence[tuple[ConsumedRecord, Envelope[Any]]]) -> Iterator[None]:
    """Spans for applying `events` in one transaction (the body), ended when it ends.

    One CONSUMER span per event, child of the context its record carried. One event's span
    is the current span; several get a batch span as the current one, linked to each
    event's context. Events staged meanwhile continue their cause's span (`trace_headers`).
    """
    parents = [context_of(record.headers) for record, _ in events]
    spans = {
        envelope.event_id: _tracer.start_span(
            f"process {envelope.event_type}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=_consumed_attributes(group, record, envelope),
        )
        for (record, envelope), parent in zip(events, parents, strict=True)
    }
    current: Span
    if len(spans) == 1:
        current = next(iter(spans.values()))
    else:
        links = [Link(span.get_span_context()) for span in spans.values()]
        current = _tracer.start_span(
            f"process batch {group}",
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={
                "messaging.system": "kafka",
                "messaging.consumer.group.name": group,
                "messaging.batch.message_count": len(spans),
            },
        )
    token = _handling.set({id_: trace.set_span_in_context(span) for id_, span in spans.items()})
    try:
        with trace.use_span(current, end_on_exit=False, record_exception=False):
            yield
    except BaseException as error:
        for span in {*spans.values(), current}:
            span.record_exception(error)
            span.set_status(StatusCode.ERROR, f"{type(error).__name__}: {error}")
        raise
    finally:
        _handling.reset(token)
        for span in {*spans.values(), current}:
            span.end()


def publish_span(
    topic: str, headers: Sequence[tuple[str, bytes]], event_id: UUID, staged_at: datetime | None
) -> Span:
    """A PRODUCER span for relaying one outbox row, child of the context the row was staged
    with, starting when it was staged (so its length is the outbox wait plus the ack)."""
    start = int(staged_at.timestamp() * 1e9) if staged_at is not None else None
    return _tracer.start_span(
        f"publish {topic}",
        context=context_of(headers),
        kind=SpanKind.PRODUCER,
        start_time=start,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.destination.name": topic,
            "messaging.message.id": str(event_id),
        },
    )


def _consumed_attributes(
    group: str, record: ConsumedRecord, envelope: Envelope[Any]
) -> dict[str, Any]:
    return {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.consumer.group.name": group,
        "messaging.destination.name": record.topic,
        "messaging.destination.partition.id": str(record.partition),
        "messaging.kafka.offset": record.offset,
        "messaging.message.id": str(envelope.event_id),
        "saga.event_type": envelope.event_type,
        "saga.correlation_id": envelope.correlation_id,
    }


def _inject(context: Context | None) -> list[tuple[str, bytes]]:
    carrier: dict[str, str] = {}
    _w3c.inject(carrier, context=context)
    return [(name, value.encode()) for name, value in carrier.items()]
