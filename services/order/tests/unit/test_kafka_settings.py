"""The order service reads its Kafka settings from ORDER_KAFKA_* (what they mean, and every
refusal, is shared: shared-events/tests/test_runtime_settings.py, test_runtime_cli.py)."""

import pytest
from sqlalchemy import create_engine

from order_service.__main__ import main
from order_service.bootstrap import bootstrap
from order_service.settings import Settings
from order_service.ui import DeadLetters
from shared_events.kafka.connection import KafkaConnection

PASSWORD = "scram-Pa55word-order"
SCRAM = {
    "bootstrap.servers": "saga-kafka-bootstrap:9092",
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "saga-order-service",
    "sasl.password": PASSWORD,
}


@pytest.fixture
def scram_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the Helm chart sets with kafka.authentication=scram-sha-512."""
    monkeypatch.setenv("ORDER_KAFKA_BOOTSTRAP_SERVERS", "saga-kafka-bootstrap:9092")
    monkeypatch.setenv("ORDER_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("ORDER_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("ORDER_KAFKA_SASL_USERNAME", "saga-order-service")
    monkeypatch.setenv("ORDER_KAFKA_SASL_PASSWORD", PASSWORD)


def test_scram_settings_come_from_order_variables_and_reach_its_kafka_clients(
    scram_env: None,
) -> None:
    engine = create_engine("postgresql+psycopg://order:x@127.0.0.1:1/saga")  # never connected

    worker = bootstrap(Settings(), engine=engine).background.threads

    assert Settings().kafka.client_config() == SCRAM
    assert worker.consumer is not None and worker.relay is not None
    assert worker.consumer._config.items() >= SCRAM.items()
    assert worker.relay._producer_config.items() >= SCRAM.items()


def test_a_order_kafka_setting_that_cannot_work_stops_the_start_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORDER_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.delenv("ORDER_KAFKA_SASL_USERNAME", raising=False)

    assert main(["serve"]) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert "ORDER_KAFKA_SASL_USERNAME" in line


def test_the_operator_pages_read_the_dead_letters_with_the_scram_settings(
    scram_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    letter_readers: list[KafkaConnection] = []
    monkeypatch.setattr(
        "order_service.bootstrap.DeadLetters",
        lambda kafka: letter_readers.append(kafka) or DeadLetters(kafka),
    )
    engine = create_engine("postgresql+psycopg://order:x@127.0.0.1:1/saga")  # never connected

    bootstrap(Settings(), engine=engine)

    assert [kafka.client_config() for kafka in letter_readers] == [SCRAM]
