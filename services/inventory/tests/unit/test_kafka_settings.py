"""The inventory service's Kafka settings (INVENTORY_KAFKA_*): SASL/SCRAM for every Kafka client of
the service, and the combinations refused at start-up."""

import pytest
from sqlalchemy import create_engine

from inventory_service.__main__ import main
from inventory_service.bootstrap import bootstrap
from inventory_service.settings import Settings
from shared_events.kafka.connection import KafkaConnection
from shared_events.runtime import metrics as runtime_metrics

PASSWORD = "scram-Pa55word-inventory"
SCRAM = {
    "bootstrap.servers": "saga-kafka-bootstrap:9092",
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "saga-inventory-service",
    "sasl.password": PASSWORD,
}


@pytest.fixture
def scram_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the Helm chart sets with kafka.authentication=scram-sha-512."""
    monkeypatch.setenv("INVENTORY_KAFKA_BOOTSTRAP_SERVERS", "saga-kafka-bootstrap:9092")
    monkeypatch.setenv("INVENTORY_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("INVENTORY_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("INVENTORY_KAFKA_SASL_USERNAME", "saga-inventory-service")
    monkeypatch.setenv("INVENTORY_KAFKA_SASL_PASSWORD", PASSWORD)


def test_kafka_defaults_to_plaintext_on_the_local_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BOOTSTRAP_SERVERS", "SECURITY_PROTOCOL", "SASL_USERNAME", "SASL_PASSWORD"):
        monkeypatch.delenv(f"INVENTORY_KAFKA_{name}", raising=False)

    assert Settings().kafka.client_config() == {"bootstrap.servers": "127.0.0.1:9092"}


def test_scram_settings_come_from_inventory_variables_and_hide_the_password(
    scram_env: None,
) -> None:
    settings = Settings()

    assert settings.kafka.client_config() == SCRAM
    assert PASSWORD not in repr(settings) and PASSWORD not in settings.model_dump_json()


def test_every_kafka_client_of_the_service_connects_with_the_scram_settings(
    scram_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    lag_readers: list[KafkaConnection] = []
    real = runtime_metrics.GroupLag

    def recording(kafka: KafkaConnection, *args: object, **kwargs: object) -> object:
        lag_readers.append(kafka)
        return real(kafka, *args, **kwargs)

    monkeypatch.setattr("shared_events.runtime.metrics.GroupLag", recording)

    engine = create_engine("postgresql+psycopg://inventory:x@127.0.0.1:1/saga")  # never connected
    service = bootstrap(Settings(), engine=engine)
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


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"INVENTORY_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "INVENTORY_KAFKA_SASL_USERNAME"),
        (
            {"INVENTORY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "INVENTORY_KAFKA_SASL_USERNAME": "u"},
            "INVENTORY_KAFKA_SASL_PASSWORD",
        ),
        ({"INVENTORY_KAFKA_SASL_MECHANISM": "GSSAPI"}, "INVENTORY_KAFKA_SASL_MECHANISM"),
        ({"INVENTORY_KAFKA_SECURITY_PROTOCOL": "TLS"}, "INVENTORY_KAFKA_SECURITY_PROTOCOL"),
    ],
)
def test_kafka_settings_that_cannot_work_stop_the_start_in_one_line_naming_them(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variables: dict[str, str],
    named: str,
) -> None:
    for name in ("SECURITY_PROTOCOL", "SASL_MECHANISM", "SASL_USERNAME", "SASL_PASSWORD"):
        monkeypatch.delenv(f"INVENTORY_KAFKA_{name}", raising=False)
    for variable, value in variables.items():
        monkeypatch.setenv(variable, value)

    assert main(["serve"]) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert named in line


def test_a_bad_kafka_setting_never_prints_the_password(
    scram_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "INVENTORY_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"
    )  # credentials unused: refused

    assert main(["migrate"]) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert "INVENTORY_KAFKA_SASL_USERNAME" in line and PASSWORD not in line
