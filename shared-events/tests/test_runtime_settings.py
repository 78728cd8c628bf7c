"""The settings every service shares (shared_events.runtime.settings), read as a service reads
them: from its own `<PREFIX>*` variables, every refusal naming the variable it is about."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from shared_events.runtime.settings import ServiceSettings

PASSWORD = "scram-Pa55word-example"
SCRAM = {
    "bootstrap.servers": "saga-kafka-bootstrap:9092",
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "saga-example-service",
    "sasl.password": PASSWORD,
}


class ExampleSettings(ServiceSettings):
    """A service as the three declare theirs: a prefix and its own defaults."""

    model_config = SettingsConfigDict(env_prefix="EXAMPLE_", extra="ignore")

    db_user: str = "example_service"
    db_password: str = "example_service"
    http_port: int = 8009
    consumer_group: str = "example-service"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOG_LEVEL", raising=False)


@pytest.fixture
def scram_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the Helm chart sets with kafka.authentication=scram-sha-512."""
    monkeypatch.setenv("EXAMPLE_KAFKA_BOOTSTRAP_SERVERS", "saga-kafka-bootstrap:9092")
    monkeypatch.setenv("EXAMPLE_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("EXAMPLE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("EXAMPLE_KAFKA_SASL_USERNAME", "saga-example-service")
    monkeypatch.setenv("EXAMPLE_KAFKA_SASL_PASSWORD", PASSWORD)


def test_the_defaults_are_the_local_stack_as_the_services_own_role() -> None:
    settings = ExampleSettings()

    assert (settings.db_host, settings.db_port, settings.db_name) == ("127.0.0.1", 5432, "saga")
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8009)
    assert (settings.consumer_batch_max, settings.consumer_batch_wait_ms) == (500, 5.0)
    assert (settings.db_pool_size, settings.log_level, settings.environment) == (5, "INFO", "local")
    assert settings.relay_duplicate_every_event is False
    assert settings.database_url.render_as_string(hide_password=True) == (
        "postgresql+psycopg://example_service:***@127.0.0.1:5432/saga"
    )
    assert settings.database == "127.0.0.1:5432/saga as example_service"


def test_kafka_defaults_to_plaintext_on_the_local_broker() -> None:
    assert ExampleSettings().kafka.client_config() == {"bootstrap.servers": "127.0.0.1:9092"}


def test_every_setting_comes_from_the_services_own_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "DB_HOST": "db.internal",
        "DB_PORT": "6432",
        "DB_POOL_SIZE": "12",
        "HTTP_PORT": "18009",
        "CONSUMER_GROUP": "example-blue",
        "CONSUMER_BATCH_MAX": "1",
        "CONSUMER_BATCH_WAIT_MS": "0",
    }.items():
        monkeypatch.setenv(f"EXAMPLE_{name}", value)
    monkeypatch.setenv("DB_HOST", "not-this-one")  # unprefixed: another service's, or nobody's

    settings = ExampleSettings()

    assert (settings.db_host, settings.db_port, settings.db_pool_size) == ("db.internal", 6432, 12)
    assert (settings.http_port, settings.consumer_group) == (18009, "example-blue")
    assert (settings.consumer_batch_max, settings.consumer_batch_wait_ms) == (1, 0.0)
    assert settings.database_url.host == "db.internal"


def test_scram_settings_come_from_the_prefixed_variables_and_hide_the_password(
    scram_env: None,
) -> None:
    settings = ExampleSettings()

    assert settings.kafka.client_config() == SCRAM
    assert PASSWORD not in repr(settings) and PASSWORD not in settings.model_dump_json()


def test_the_log_level_is_the_services_own_else_the_stacks_in_any_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "warning")
    assert ExampleSettings().log_level == "WARNING"

    monkeypatch.setenv("EXAMPLE_LOG_LEVEL", "debug")
    assert ExampleSettings().log_level == "DEBUG"
    assert ExampleSettings(log_level="error").log_level == "ERROR"


def test_an_unknown_log_level_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_LOG_LEVEL", "chatty")

    with pytest.raises(ValidationError, match="log_level"):
        ExampleSettings()


def test_the_local_password_is_refused_outside_local_runs_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXAMPLE_ENVIRONMENT", "production")

    with pytest.raises(ValidationError, match="EXAMPLE_DB_PASSWORD"):
        ExampleSettings()

    monkeypatch.setenv("EXAMPLE_DB_PASSWORD", "s3cret")
    assert ExampleSettings().db_password == "s3cret"


def test_the_duplicate_storm_is_refused_outside_local_runs_naming_the_variable() -> None:
    assert ExampleSettings(relay_duplicate_every_event=True).relay_duplicate_every_event

    with pytest.raises(ValidationError, match="EXAMPLE_RELAY_DUPLICATE_EVERY_EVENT"):
        ExampleSettings(
            environment="staging", db_password="s3cret", relay_duplicate_every_event=True
        )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EXAMPLE_CONSUMER_BATCH_MAX", "0"),
        ("EXAMPLE_CONSUMER_BATCH_MAX", "-3"),
        ("EXAMPLE_CONSUMER_BATCH_MAX", "many"),
        ("EXAMPLE_CONSUMER_BATCH_WAIT_MS", "-0.5"),
        ("EXAMPLE_CONSUMER_BATCH_WAIT_MS", "inf"),
        ("EXAMPLE_CONSUMER_BATCH_WAIT_MS", "nan"),
        ("EXAMPLE_CONSUMER_BATCH_WAIT_MS", "soon"),
        ("EXAMPLE_DB_POOL_SIZE", "0"),
    ],
)
def test_a_setting_out_of_range_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError, match=variable.removeprefix("EXAMPLE_").lower()):
        ExampleSettings()


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"EXAMPLE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "EXAMPLE_KAFKA_SASL_USERNAME"),
        (
            {"EXAMPLE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "EXAMPLE_KAFKA_SASL_USERNAME": "u"},
            "EXAMPLE_KAFKA_SASL_PASSWORD",
        ),
        ({"EXAMPLE_KAFKA_SASL_MECHANISM": "GSSAPI"}, "EXAMPLE_KAFKA_SASL_MECHANISM"),
        ({"EXAMPLE_KAFKA_SECURITY_PROTOCOL": "TLS"}, "EXAMPLE_KAFKA_SECURITY_PROTOCOL"),
    ],
)
def test_kafka_settings_that_cannot_work_are_refused_naming_the_prefixed_variable(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    for variable, value in variables.items():
        monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError, match=named):
        ExampleSettings()


def test_a_field_is_read_from_the_variable_it_names() -> None:
    assert ExampleSettings.env_prefix() == "EXAMPLE_"
    assert ExampleSettings.variable("consumer_batch_max") == "EXAMPLE_CONSUMER_BATCH_MAX"
