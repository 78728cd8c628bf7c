"""What every service's bootstrap wires the same way (shared_events.runtime.wiring)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from shared_events.kafka.connection import KafkaConnection
from shared_events.kafka.consuming.consumer import EventConsumer
from shared_events.kafka.tables import event_tables
from shared_events.runtime import metrics as runtime_metrics
from shared_events.runtime.metrics import ServiceMetrics
from shared_events.runtime.settings import ServiceSettings
from shared_events.runtime.wiring import Service, database_engine, event_consumer, wire
from shared_events.topics import dead_letter_topic

PASSWORD = "scram-Pa55word-example"
SCRAM = {
    "bootstrap.servers": "saga-kafka-bootstrap:9092",
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "saga-example-service",
    "sasl.password": PASSWORD,
}
OUTBOX, PROCESSED = event_tables("examples")
TOPICS = ["example-events"]
NEVER_CONNECTED = "postgresql+psycopg://example:x@127.0.0.1:1/saga"


class ExampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLE_", extra="ignore")

    db_user: str = "example_service"
    db_password: str = "example_service"
    http_port: int = 8009
    consumer_group: str = "example-service"


def _consumer(settings: ExampleSettings, sessions: sessionmaker[Session]) -> EventConsumer:
    return event_consumer(
        settings,
        sessions,
        topics=TOPICS,
        handlers={"Probe": lambda *_: None},
        processed_table=PROCESSED,
        replayable_types={"Probe"},
    )


def _wire(settings: ExampleSettings, **parts: Any) -> Service[ExampleSettings, ServiceMetrics]:
    return wire(
        settings,
        ServiceMetrics("example"),
        engine=create_engine(NEVER_CONNECTED),
        outbox=OUTBOX,
        topics=TOPICS,
        **{"consumer": _consumer, "relay": True, **parts},
    )


@pytest.fixture
def scram_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the Helm chart sets with kafka.authentication=scram-sha-512."""
    monkeypatch.setenv("EXAMPLE_KAFKA_BOOTSTRAP_SERVERS", "saga-kafka-bootstrap:9092")
    monkeypatch.setenv("EXAMPLE_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("EXAMPLE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("EXAMPLE_KAFKA_SASL_USERNAME", "saga-example-service")
    monkeypatch.setenv("EXAMPLE_KAFKA_SASL_PASSWORD", PASSWORD)


def test_every_kafka_client_of_the_service_connects_with_the_scram_settings(
    scram_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    lag_readers: list[KafkaConnection] = []
    real = runtime_metrics.GroupLag

    def recording(kafka: KafkaConnection, *args: object, **kwargs: object) -> object:
        lag_readers.append(kafka)
        return real(kafka, *args, **kwargs)

    monkeypatch.setattr("shared_events.runtime.metrics.GroupLag", recording)

    service = _wire(ExampleSettings())

    worker = service.background.threads
    assert worker.consumer is not None and worker.relay is not None
    configs = {
        "consumer": worker.consumer._config,
        "dead-letter writer": worker.consumer._retries.dlq._config,
        "outbox relay": worker.relay._producer_config,
        "readiness probe": service.background.gate.probes["kafka"]._config,
    }
    for client, config in configs.items():
        assert config.items() >= SCRAM.items(), client
    assert [kafka.client_config() for kafka in lag_readers] == [SCRAM]


def test_the_consumer_gets_the_group_batch_settings_and_dead_letter_topic() -> None:
    settings = ExampleSettings(consumer_batch_max=1, consumer_batch_wait_ms=20)

    consumer = _wire(settings).background.threads.consumer

    assert consumer is not None
    assert (consumer.batch_max, consumer.batch_wait_s) == (1, 0.02)
    assert (consumer.group_id, consumer.topics) == ("example-service", TOPICS)
    assert consumer.replayable_types == {"Probe"}
    assert consumer._retries.dlq.topic == dead_letter_topic("example-service")


def test_the_consumer_and_relay_report_to_the_services_metrics() -> None:
    service = _wire(ExampleSettings(relay_duplicate_every_event=True))

    worker = service.background.threads
    assert worker.consumer is not None and worker.relay is not None
    assert worker.consumer.observer is service.metrics
    assert worker.relay.observer is service.metrics
    assert worker.relay.duplicate_every_event is True


def test_parts_left_to_other_processes_are_neither_built_nor_awaited() -> None:
    service = _wire(ExampleSettings(), consumer=None, relay=False)

    assert (service.background.threads.consumer, service.background.threads.relay) == (None, None)
    assert set(service.background.readiness()) == {"database"}  # no Kafka to wait for
    assert service.app is None


def test_a_services_own_loops_run_beside_the_delivery_loops() -> None:
    given: list[sessionmaker[Session]] = []

    def loops(sessions: sessionmaker[Session]) -> dict[str, Any]:
        given.append(sessions)
        return {"deadline": lambda stop: stop.wait()}

    service = _wire(ExampleSettings(), loops=loops)

    assert given == [service.session_factory]
    assert list(service.background.threads.loops) == ["deadline"]


def test_the_lifespan_starts_the_delivery_then_drains_it_and_closes_the_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = _wire(ExampleSettings())
    steps: list[str] = []
    monkeypatch.setattr(service.background, "start", lambda: steps.append("start"))
    monkeypatch.setattr(service.background, "stop", lambda: steps.append("stop") or True)
    monkeypatch.setattr(service.engine, "dispose", lambda: steps.append("dispose"))

    async def serve() -> None:
        async with service.lifespan(FastAPI()):
            steps.append("serving")

    asyncio.run(serve())

    assert steps == ["start", "serving", "stop", "dispose"]


def test_the_engine_is_the_services_pool_as_its_own_role() -> None:
    settings = ExampleSettings(db_pool_size=7, db_port=1)

    engine = database_engine(settings)

    assert engine.url.render_as_string(hide_password=True) == (
        "postgresql+psycopg://example_service:***@127.0.0.1:1/saga"
    )
    assert engine.pool.size() == 7  # type: ignore[attr-defined]
    engine.dispose()
