"""The one place Kafka client settings are built: bootstrap servers plus security, checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from shared_events.kafka.connection import (
    KafkaClientSettings,
    KafkaConnection,
    KafkaSettingsError,
    client_config,
)
from shared_events.kafka.consuming.group import group_config
from shared_events.kafka.dead_letters.cli import main as dlq
from shared_events.kafka.dead_letters.writer import DeadLetterQueue
from shared_events.kafka.provisioning import main as topics
from shared_events.kafka.publishing.producer import PRODUCER_DEFAULTS, producer_config

SRC = Path(__file__).resolve().parents[1] / "src" / "shared_events"
PASSWORD = "s3cret-Pa55word"

SCRAM = KafkaConnection(
    bootstrap_servers="kafka-0:9092,kafka-1:9092",
    security_protocol="SASL_PLAINTEXT",
    sasl_mechanism="SCRAM-SHA-512",
    sasl_username="saga-order-service",
    sasl_password=SecretStr(PASSWORD),
)
SCRAM_CONFIG = {
    "bootstrap.servers": "kafka-0:9092,kafka-1:9092",
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "saga-order-service",
    "sasl.password": PASSWORD,
}


def test_the_default_is_plaintext_with_bootstrap_servers_only() -> None:
    assert KafkaConnection.from_env({}).client_config() == {"bootstrap.servers": "127.0.0.1:9092"}
    assert client_config("10.0.0.1:9092") == {"bootstrap.servers": "10.0.0.1:9092"}
    assert KafkaClientSettings().kafka.client_config() == {"bootstrap.servers": "127.0.0.1:9092"}


def test_sasl_plaintext_with_scram_gives_librdkafka_its_credentials() -> None:
    assert SCRAM.client_config() == SCRAM_CONFIG
    assert client_config(SCRAM) == SCRAM_CONFIG


def test_sasl_ssl_adds_the_ca_and_ssl_alone_authenticates_nobody(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "kafka:9093",
        "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",  # any case
        "KAFKA_SASL_MECHANISM": "scram-sha-256",
        "KAFKA_SASL_USERNAME": "u",
        "KAFKA_SASL_PASSWORD": PASSWORD,
        "KAFKA_SSL_CA_LOCATION": str(ca),
    }
    assert KafkaConnection.from_env(env).client_config() == {
        "bootstrap.servers": "kafka:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": "u",
        "sasl.password": PASSWORD,
        "ssl.ca.location": str(ca),
    }
    tls_only = {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_LOCATION": str(ca)}
    assert KafkaConnection.from_env(tls_only).client_config() == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "SSL",
        "ssl.ca.location": str(ca),
    }


def test_plain_is_a_mechanism_too() -> None:
    env = {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "PLAIN",
        "KAFKA_SASL_USERNAME": "u",
        "KAFKA_SASL_PASSWORD": PASSWORD,
    }
    assert KafkaConnection.from_env(env).client_config()["sasl.mechanism"] == "PLAIN"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"SECURITY_PROTOCOL": "SASL_PLAINTEXT"},
            "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT needs KAFKA_SASL_USERNAME and "
            "KAFKA_SASL_PASSWORD",
        ),
        (
            {"SECURITY_PROTOCOL": "SASL_SSL", "SASL_USERNAME": "u"},
            "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_PASSWORD",
        ),
        (
            {"SECURITY_PROTOCOL": "SASL_SSL", "SASL_PASSWORD": PASSWORD, "SASL_USERNAME": " "},
            "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_USERNAME",
        ),
        (
            {"SECURITY_PROTOCOL": "TLS"},
            "KAFKA_SECURITY_PROTOCOL='TLS' is not one of PLAINTEXT, SASL_PLAINTEXT, SASL_SSL, SSL",
        ),
        (
            {"SASL_MECHANISM": "GSSAPI"},
            "KAFKA_SASL_MECHANISM='GSSAPI' is not one of SCRAM-SHA-512, SCRAM-SHA-256, PLAIN",
        ),
        (
            {"SASL_USERNAME": "u", "SASL_PASSWORD": PASSWORD},
            "KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD are set but KAFKA_SECURITY_PROTOCOL="
            "PLAINTEXT does not authenticate",
        ),
        (
            {
                "SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "SASL_USERNAME": "u",
                "SASL_PASSWORD": "p",
                "SSL_CA_LOCATION": "/etc/ssl/ca.crt",
            },
            "KAFKA_SSL_CA_LOCATION is set but KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT uses no TLS",
        ),
        (
            {"SECURITY_PROTOCOL": "SSL", "SSL_CA_LOCATION": "/no/such/ca.crt"},
            "KAFKA_SSL_CA_LOCATION='/no/such/ca.crt' does not exist",
        ),
    ],
)
def test_a_combination_that_cannot_work_is_refused_in_one_line_naming_the_variables(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(KafkaSettingsError) as refused:
        KafkaConnection.from_env({f"KAFKA_{name}": value for name, value in env.items()})

    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value) and PASSWORD not in str(refused.value)


def test_a_services_settings_name_its_own_variables() -> None:
    with pytest.raises(
        KafkaSettingsError,
        match=r"^ORDER_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs "
        r"ORDER_KAFKA_SASL_USERNAME and ORDER_KAFKA_SASL_PASSWORD$",
    ):
        KafkaConnection.from_env({"ORDER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, env_prefix="ORDER_")


def test_the_settings_mixin_refuses_what_the_connection_refuses() -> None:
    with pytest.raises(ValidationError, match="KAFKA_SASL_MECHANISM='SCRAM-SHA-1'"):
        KafkaClientSettings(kafka_sasl_mechanism="scram-sha-1")

    # An empty variable (a blank Helm value) is no value: the defaults stand.
    blank = KafkaClientSettings.model_validate(
        {"kafka_security_protocol": "", "kafka_sasl_username": "", "kafka_ssl_ca_location": ""}
    )
    assert blank.kafka.client_config() == {"bootstrap.servers": "127.0.0.1:9092"}


def test_the_password_shows_in_no_repr_dump_or_message() -> None:
    settings = KafkaClientSettings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="u",
        kafka_sasl_password=PASSWORD,  # type: ignore[arg-type]
    )
    for text in (repr(settings), str(settings), settings.model_dump_json(), repr(settings.kafka)):
        assert PASSWORD not in text
    assert settings.kafka.client_config()["sasl.password"] == PASSWORD


def test_producers_consumers_and_dead_letter_writers_start_from_the_connection() -> None:
    produced = producer_config(SCRAM)
    assert produced.items() >= SCRAM_CONFIG.items()
    assert produced.items() >= dict(PRODUCER_DEFAULTS).items()
    assert group_config(SCRAM, "order-service").items() >= SCRAM_CONFIG.items()
    assert group_config(SCRAM, "order-service")["group.id"] == "order-service"
    letters = DeadLetterQueue("order-service.dlq", "order-service", SCRAM)
    # The dead-letter writer's own short delivery timeout applies to a connection too.
    assert letters._config.items() >= SCRAM_CONFIG.items()
    assert letters._config["message.timeout.ms"] < PRODUCER_DEFAULTS["message.timeout.ms"]


def test_no_kafka_client_of_the_package_sets_bootstrap_servers_itself() -> None:
    """Every client a service runs takes the connection (SASL, TLS). `testing/` is not run by
    a service: its reachability check talks to the test broker the environment names, in
    PLAINTEXT, as the services' own test clients do."""
    setting = re.compile(r"[\"']bootstrap\.servers[\"']")
    elsewhere = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.name != "connection.py"
        and path.relative_to(SRC).parts[0] != "testing"
        and setting.search(path.read_text())
    ]
    assert elsewhere == []


def test_the_command_line_tools_refuse_bad_settings_with_exit_2_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.delenv("KAFKA_SASL_USERNAME", raising=False)
    monkeypatch.delenv("KAFKA_SASL_PASSWORD", raising=False)
    assert topics(["--timeout", "1"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "KAFKA_SASL_USERNAME" in line

    monkeypatch.setenv("PAYMENT_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("PAYMENT_KAFKA_SASL_USERNAME", "payment")
    monkeypatch.delenv("PAYMENT_KAFKA_SASL_PASSWORD", raising=False)
    with pytest.raises(SystemExit) as exited:
        dlq(["list", "--group", "payment-service", "--env-prefix", "PAYMENT_"])
    assert exited.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "PAYMENT_KAFKA_SASL_PASSWORD" in line
