"""Settings from ORDER_* variables, and the CLI's answers to bad usage."""

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import sessionmaker

from order_service.__main__ import main
from order_service.bootstrap import default_consumer
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


def test_consumer_batches_default_to_500_events_and_a_5_ms_wait(monkeypatch):
    for name in ("ORDER_CONSUMER_BATCH_MAX", "ORDER_CONSUMER_BATCH_WAIT_MS"):
        monkeypatch.delenv(name, raising=False)

    consumer = default_consumer(Settings(), sessionmaker())

    assert (consumer.batch_max, consumer.batch_wait_s) == (500, 0.005)


def test_batch_max_1_gives_the_consumer_one_event_per_transaction(monkeypatch):
    monkeypatch.setenv("ORDER_CONSUMER_BATCH_MAX", "1")
    monkeypatch.setenv("ORDER_CONSUMER_BATCH_WAIT_MS", "0")

    settings = Settings()
    consumer = default_consumer(settings, sessionmaker())

    assert (settings.consumer_batch_max, settings.consumer_batch_wait_ms) == (1, 0.0)
    assert (consumer.batch_max, consumer.batch_wait_s) == (1, 0.0)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ORDER_CONSUMER_BATCH_MAX", "0"),
        ("ORDER_CONSUMER_BATCH_MAX", "-3"),
        ("ORDER_CONSUMER_BATCH_WAIT_MS", "-1"),
        ("ORDER_CONSUMER_BATCH_WAIT_MS", "inf"),
        ("ORDER_CONSUMER_BATCH_WAIT_MS", "nan"),
    ],
)
def test_a_batch_setting_out_of_range_is_refused_by_name(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError, match=variable.removeprefix("ORDER_").lower()):
        Settings()


def test_serve_with_a_bad_batch_setting_exits_2_with_one_line_naming_it(monkeypatch, capsys):
    monkeypatch.setenv("ORDER_CONSUMER_BATCH_MAX", "0")

    assert main(["serve"]) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert "consumer_batch_max" in line


@pytest.mark.parametrize(
    "argv",
    [[], ["bogus"], ["serve", "--nope"], ["serve", "--no-api", "--no-consumer", "--no-relay"]],
)
def test_bad_usage_exits_2_with_one_line(capsys, argv):
    with pytest.raises(SystemExit) as exited:
        main(argv)

    assert exited.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_the_saga_deadline_defaults_to_300_s_checked_every_5_s(monkeypatch):
    for name in ("SAGA_DEADLINE_S", "SAGA_DEADLINE_CHECK_S", "SAGA_STUCK_AFTER_S"):
        monkeypatch.delenv(f"ORDER_{name}", raising=False)

    settings = Settings()

    assert (settings.saga_deadline_s, settings.saga_deadline_check_s) == (300.0, 5.0)
    assert settings.saga_stuck_after_s == 60.0


def test_a_short_deadline_for_tests_is_accepted(monkeypatch):
    monkeypatch.setenv("ORDER_SAGA_DEADLINE_S", "8")
    monkeypatch.setenv("ORDER_SAGA_DEADLINE_CHECK_S", "0.5")
    monkeypatch.setenv("ORDER_SAGA_STUCK_AFTER_S", "2")

    settings = Settings()

    assert (settings.saga_deadline_s, settings.saga_deadline_check_s) == (8.0, 0.5)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ORDER_SAGA_DEADLINE_S", "0"),
        ("ORDER_SAGA_DEADLINE_S", "-5"),
        ("ORDER_SAGA_DEADLINE_S", "inf"),
        ("ORDER_SAGA_DEADLINE_S", "soon"),
        ("ORDER_SAGA_DEADLINE_CHECK_S", "0"),
        ("ORDER_SAGA_DEADLINE_CHECK_S", "nan"),
    ],
)
def test_serve_with_a_bad_deadline_exits_2_with_one_line_naming_it(
    monkeypatch, capsys, variable, value
):
    monkeypatch.setenv(variable, value)

    assert main(["serve"]) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert variable.removeprefix("ORDER_").lower() in line


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"ORDER_SAGA_DEADLINE_S": "60"}, "ORDER_SAGA_STUCK_AFTER_S"),  # stuck: 60 s by default
        (
            {
                "ORDER_SAGA_DEADLINE_S": "8",
                "ORDER_SAGA_STUCK_AFTER_S": "2",
                "ORDER_SAGA_DEADLINE_CHECK_S": "10",
            },
            "ORDER_SAGA_DEADLINE_CHECK_S",
        ),
    ],
)
def test_a_deadline_below_its_warning_or_check_interval_exits_2_naming_both(
    monkeypatch, capsys, settings, named
):
    for variable, value in settings.items():
        monkeypatch.setenv(variable, value)

    assert main(["serve"]) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert named in line and "ORDER_SAGA_DEADLINE_S" in line
