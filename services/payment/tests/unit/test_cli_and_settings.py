import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine

from payment_service.__main__ import main
from payment_service.bootstrap import bootstrap
from payment_service.settings import Settings


@pytest.mark.parametrize("argv", [[], ["bogus"], ["serve", "--frobnicate"]])
def test_bad_usage_exits_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)

    assert exit_.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_an_unreachable_database_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PAYMENT_DB_PORT", "1")
    monkeypatch.setattr(
        "shared_events.runtime.cli.configure_json_logging", lambda _service, _level: None
    )

    assert main(["migrate"]) == 1

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unreachable" in err[0]


def test_settings_come_from_payment_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENT_DB_HOST", "db.internal")
    monkeypatch.setenv("PAYMENT_HTTP_PORT", "18002")
    monkeypatch.setenv("PAYMENT_LOG_LEVEL", "debug")

    settings = Settings()

    assert (settings.db_host, settings.http_port, settings.log_level) == (
        "db.internal",
        18002,
        "DEBUG",
    )
    assert (settings.http_port, settings.consumer_group) == (18002, "payment-service")
    assert settings.database_url.host == "db.internal"


def test_the_local_password_is_refused_outside_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENT_ENVIRONMENT", "production")

    with pytest.raises(ValidationError, match="PAYMENT_DB_PASSWORD"):
        Settings()

    monkeypatch.setenv("PAYMENT_DB_PASSWORD", "s3cret")
    assert Settings().db_password == "s3cret"


def test_defaults_match_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PORT", "DB_USER", "DB_PASSWORD", "KAFKA_BOOTSTRAP_SERVERS"):
        monkeypatch.delenv(f"PAYMENT_{name}", raising=False)

    settings = Settings()

    assert settings.http_port == 8002
    assert settings.db_user == settings.db_password == "payment_service"
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"


def test_consumer_batches_default_to_500_events_and_5_ms(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONSUMER_BATCH_MAX", "CONSUMER_BATCH_WAIT_MS"):
        monkeypatch.delenv(f"PAYMENT_{name}", raising=False)

    settings = Settings()

    assert (settings.consumer_batch_max, settings.consumer_batch_wait_ms) == (500, 5.0)


def test_consumer_batch_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYMENT_CONSUMER_BATCH_MAX", "1")
    monkeypatch.setenv("PAYMENT_CONSUMER_BATCH_WAIT_MS", "0")

    settings = Settings()

    assert (settings.consumer_batch_max, settings.consumer_batch_wait_ms) == (1, 0.0)


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_a_consumer_batch_max_below_one_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PAYMENT_CONSUMER_BATCH_MAX", value)

    with pytest.raises(ValidationError, match="consumer_batch_max"):
        Settings()


@pytest.mark.parametrize("value", ["-0.5", "nan", "inf", "soon"])
def test_a_negative_or_endless_consumer_batch_wait_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PAYMENT_CONSUMER_BATCH_WAIT_MS", value)

    with pytest.raises(ValidationError, match="consumer_batch_wait_ms"):
        Settings()


def test_an_invalid_batch_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PAYMENT_CONSUMER_BATCH_MAX", "0")

    assert main(["serve"]) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert "consumer_batch_max" in line


def test_the_consumer_gets_the_batch_settings() -> None:
    settings = Settings(consumer_batch_max=1, consumer_batch_wait_ms=20)
    # Never connects: nothing is started.
    engine = create_engine("postgresql+psycopg://nobody:nothing@127.0.0.1:1/none")

    consumer = bootstrap(settings, engine=engine, relay=False).background.threads.consumer

    assert consumer is not None
    assert (consumer.batch_max, consumer.batch_wait_s) == (1, 0.02)
