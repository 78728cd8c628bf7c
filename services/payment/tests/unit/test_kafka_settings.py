"""The payment service reads its Kafka settings from PAYMENT_KAFKA_* (what they mean, and every
refusal, is shared: shared-events/tests/test_runtime_settings.py, test_runtime_cli.py)."""

import pytest
from sqlalchemy import create_engine

from payment_service.__main__ import main
from payment_service.bootstrap import bootstrap
from payment_service.settings import Settings

PASSWORD = "scram-Pa55word-payment"
SCRAM = {
    "bootstrap.servers": "saga-kafka-bootstrap:9092",
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "saga-payment-service",
    "sasl.password": PASSWORD,
}


@pytest.fixture
def scram_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the Helm chart sets with kafka.authentication=scram-sha-512."""
    monkeypatch.setenv("PAYMENT_KAFKA_BOOTSTRAP_SERVERS", "saga-kafka-bootstrap:9092")
    monkeypatch.setenv("PAYMENT_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("PAYMENT_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("PAYMENT_KAFKA_SASL_USERNAME", "saga-payment-service")
    monkeypatch.setenv("PAYMENT_KAFKA_SASL_PASSWORD", PASSWORD)


def test_scram_settings_come_from_payment_variables_and_reach_its_kafka_clients(
    scram_env: None,
) -> None:
    engine = create_engine("postgresql+psycopg://payment:x@127.0.0.1:1/saga")  # never connected

    worker = bootstrap(Settings(), engine=engine).background.threads

    assert Settings().kafka.client_config() == SCRAM
    assert worker.consumer is not None and worker.relay is not None
    assert worker.consumer._config.items() >= SCRAM.items()
    assert worker.relay._producer_config.items() >= SCRAM.items()


def test_a_payment_kafka_setting_that_cannot_work_stops_the_start_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PAYMENT_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.delenv("PAYMENT_KAFKA_SASL_USERNAME", raising=False)

    assert main(["serve"]) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert "PAYMENT_KAFKA_SASL_USERNAME" in line
