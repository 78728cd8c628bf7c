import pytest
from pydantic import ValidationError

from payment_service.__main__ import main
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
        "payment_service.__main__.configure_json_logging", lambda _service, _level: None
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
