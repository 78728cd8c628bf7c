"""Trace context across the outbox and Kafka headers (SDK with an in-memory exporter)."""

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import MetaData
from sqlalchemy.orm import Session

from shared_events import Envelope, Event, new_envelope
from shared_events.kafka.codec import header
from shared_events.kafka.consuming.records import ConsumedRecord
from shared_events.kafka.publishing.outbox import Outbox
from shared_events.kafka.tables import outbox_table
from shared_events.kafka.tracing import context_of, handling, publish_span, with_trace_headers
from shared_events.runtime.logs import configure_json_logging
from shared_events.runtime.telemetry import tracing_wanted
from shared_events.runtime.unit_of_work import SessionUnitOfWork

EXPORTED = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(EXPORTED))
trace.set_tracer_provider(_provider)
tracer = trace.get_tracer("test")


class Probe(Event):
    event_type: ClassVar[str] = "TracingProbe"
    event_version: ClassVar[int] = 1
    topic: ClassVar[str] = "t-tracing"
    ref: str
    seq: int = 0

    def key(self) -> str:
        return self.ref


def envelopes(refs: list[str]) -> list[Envelope[Event]]:
    return [new_envelope(Probe(ref=ref), producer="test") for ref in refs]


OUTBOX = Outbox(outbox_table(MetaData(), "s"))


@pytest.fixture(autouse=True)
def _fresh_spans() -> None:
    EXPORTED.clear()


def _traceparent(span: trace.Span) -> str:
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-01"


def _record(headers: list[tuple[str, bytes]], offset: int = 0) -> ConsumedRecord:
    return ConsumedRecord("t-tracing", 0, offset, b"k", b"{}", headers)


def _spans(name_prefix: str) -> list[ReadableSpan]:
    return [s for s in EXPORTED.get_finished_spans() if s.name.startswith(name_prefix)]


def test_an_event_staged_in_a_request_carries_the_request_span() -> None:
    (envelope,) = envelopes(["a"])
    with tracer.start_as_current_span("POST /orders") as request, Session() as session:
        record = OUTBOX.add(session, envelope)
    carried = header(record.headers, "traceparent") or ""
    assert carried.rsplit("-", 1)[0] == _traceparent(request).rsplit("-", 1)[0]


def test_an_event_staged_with_no_span_carries_no_trace_headers() -> None:
    (envelope,) = envelopes(["a"])
    with Session() as session:
        record = OUTBOX.add(session, envelope)
    assert header(record.headers, "traceparent") is None


def test_each_consumed_event_gets_a_child_span_and_its_follow_ups_continue_it() -> None:
    with tracer.start_as_current_span("producer a") as a, tracer.start_as_current_span("b") as b:
        headers_a = [("traceparent", _traceparent(a).encode())]
        headers_b = [("traceparent", _traceparent(b).encode())]
    consumed = envelopes(["a", "b"])
    follow_ups = [
        new_envelope(Probe(ref=c.payload.key(), seq=9), producer="t", causation_id=c.event_id)
        for c in consumed
    ]
    events = [(_record(headers_a, 0), consumed[0]), (_record(headers_b, 1), consumed[1])]
    with handling("g", events), Session() as session:
        # One set-based handler call stages both follow-ups: each follows its own cause.
        staged = [OUTBOX.add(session, envelope) for envelope in follow_ups]

    (process_a,) = [
        s
        for s in _spans("process TracingProbe")
        if s.parent.span_id == a.get_span_context().span_id
    ]
    (process_b,) = [
        s
        for s in _spans("process TracingProbe")
        if s.parent.span_id == b.get_span_context().span_id
    ]
    assert process_a.kind is SpanKind.CONSUMER
    assert process_a.context.trace_id == a.get_span_context().trace_id
    assert process_a.attributes["messaging.consumer.group.name"] == "g"
    assert (
        header(staged[0].headers, "traceparent").split("-")[2]
        == f"{process_a.context.span_id:016x}"
    )
    assert (
        header(staged[1].headers, "traceparent").split("-")[2]
        == f"{process_b.context.span_id:016x}"
    )
    (batch,) = _spans("process batch g")
    assert {link.context.span_id for link in batch.links} == {
        process_a.context.span_id,
        process_b.context.span_id,
    }


def test_a_failed_application_marks_every_event_span_as_an_error() -> None:
    (envelope,) = envelopes(["a"])
    with pytest.raises(RuntimeError), handling("g", [(_record([]), envelope)]):
        raise RuntimeError("constraint violated")
    (span,) = _spans("process TracingProbe")
    assert not span.status.is_ok
    assert "constraint violated" in (span.status.description or "")


def test_the_relay_span_sits_between_the_staging_span_and_the_record_it_sends() -> None:
    with tracer.start_as_current_span("POST /orders") as request:
        staged = [("event_type", b"Probe"), ("traceparent", _traceparent(request).encode())]
    (envelope,) = envelopes(["a"])
    span = publish_span("t-tracing", staged, envelope.event_id, None)
    sent = with_trace_headers(staged, trace.set_span_in_context(span))
    span.end()

    (publish,) = _spans("publish t-tracing")
    assert publish.kind is SpanKind.PRODUCER
    assert publish.parent.span_id == request.get_span_context().span_id
    assert [name for name, _ in sent].count("traceparent") == 1
    carried = trace.get_current_span(context_of(sent)).get_span_context()
    assert carried.span_id == publish.context.span_id


def test_log_lines_inside_a_span_carry_its_trace_and_span_ids(capsys) -> None:
    configure_json_logging("test")
    try:
        with tracer.start_as_current_span("work") as span:
            structlog.get_logger("t").info("inside")
        structlog.get_logger("t").info("outside")
        inside, outside = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
    assert inside["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert inside["span_id"] == f"{span.get_span_context().span_id:016x}"
    assert "trace_id" not in outside


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_tracing_is_on_only_when_the_environment_names_a_collector(environ, wanted) -> None:
    assert tracing_wanted(environ) is wanted


def test_a_riding_unit_of_work_stages_follow_ups_under_their_causes_spans(monkeypatch) -> None:
    @dataclass(eq=False)
    class Thing:
        ref: str
        events: list[Event] = field(default_factory=list)

    class Things(SessionUnitOfWork[Thing]):
        service = "svc"
        outbox = OUTBOX.table

        def _start(self, session: Session) -> None:
            self.seen: list[Thing] = []

        def _aggregates(self) -> Iterable[Thing]:
            return self.seen

    staged = []
    add = Outbox.add
    monkeypatch.setattr(Outbox, "add", lambda self, s, e: staged.append(add(self, s, e)))
    with tracer.start_as_current_span("producer a") as a:
        headers_a = [("traceparent", _traceparent(a).encode())]
    [cause] = envelopes(["a"])

    with handling("g", [(_record(headers_a), cause)]), Session() as session:
        with Things.riding(session, [cause]) as uow:
            uow.seen.append(Thing("a", [Probe(ref="a", seq=1)]))
            uow.commit()

    (process,) = _spans("process TracingProbe")
    [record] = staged
    assert header(record.headers, "traceparent").split("-")[2] == f"{process.context.span_id:016x}"
