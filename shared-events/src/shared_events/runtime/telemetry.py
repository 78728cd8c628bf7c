"""Turning tracing on in a service process: the OpenTelemetry SDK, OTLP export, instrumentations.

Configured by the standard variables only. Tracing is on when `OTEL_EXPORTER_OTLP_ENDPOINT`
(or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) names a collector, e.g. `http://127.0.0.1:4318`
(OTLP over HTTP), and off when `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
`OTEL_SERVICE_NAME` overrides the service's own name; `OTEL_TRACES_SAMPLER` and
`OTEL_TRACES_SAMPLER_ARG` choose the sampling (default: parent-based, always on), and
`OTEL_BSP_*` tune the batching exporter. Off, every span the binding makes is a no-op.
"""

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

if TYPE_CHECKING:
    from fastapi import FastAPI

# Probes and scrapes would be most of the traces and tell nothing about a saga.
UNTRACED_URLS = "/health/.*,/metrics"


def tracing_wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for traces to be exported."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return any(
        env.get(name, "").strip()
        for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def trace_service(service: str, app: "FastAPI | None") -> TracerProvider | None:
    """Install the SDK with OTLP export and instrument `app` and psycopg, if wanted.

    The service name is `<service>-service`, as its consumer group (`OTEL_SERVICE_NAME` wins).

    Returns the provider (its spans are flushed at exit), or None when tracing is off.
    """
    if not tracing_wanted():
        return None
    attributes = (
        {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": f"{service}-service"}
    )
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    if app is not None:
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=provider,
            excluded_urls=UNTRACED_URLS,
            exclude_spans=["receive", "send"],  # one span per request, not per ASGI message
        )
    # Every statement a span (SQLAlchemy's own instrumentation does not cover 2.1 yet).
    PsycopgInstrumentor().instrument(tracer_provider=provider)
    return provider
