"""Settings from ORDER_* variables, and the CLI's answers to bad usage."""

import pytest
from pydantic import ValidationError

from order_service.__main__ import main
from order_service.settings import Settings


def test_settings_default_to_the_local_stack(monkeypatch):
    for name in ("ORDER_DB_HOST", "ORDER_DB_PORT", "ORDER_HTTP_PORT", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)

    settings = Settings()

    assert (settings.db_host, settings.db_port, settings.db_user) == (
        "127.0.0.1",
        5432,
        "order_service",
    )
    assert (settings.http_port, settings.consumer_group) == (8001, "order-service")
    assert settings.database_url.render_as_string(hide_password=True).startswith(
        "postgresql+psycopg://order_service:***@127.0.0.1:5432/saga"
    )


def test_settings_read_order_prefixed_variables(monkeypatch):
    monkeypatch.setenv("ORDER_DB_HOST", "postgres")
    monkeypatch.setenv("ORDER_KAFKA_BOOTSTRAP_SERVERS", "kafka:19092")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")

    settings = Settings()

    assert settings.db_host == "postgres"
    assert settings.kafka_bootstrap_servers == "kafka:19092"
    assert settings.log_level == "DEBUG"


def test_the_local_password_is_refused_outside_local_runs(monkeypatch):
    monkeypatch.delenv("ORDER_DB_PASSWORD", raising=False)
    with pytest.raises(ValidationError, match="ORDER_DB_PASSWORD"):
        Settings(environment="production")

    assert Settings(environment="production", db_password="s3cret").db_password == "s3cret"


@pytest.mark.parametrize(
    "argv",
    [[], ["bogus"], ["serve", "--nope"], ["serve", "--no-api", "--no-consumer", "--no-relay"]],
)
def test_bad_usage_exits_2_with_one_line(capsys, argv):
    with pytest.raises(SystemExit) as exited:
        main(argv)

    assert exited.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
