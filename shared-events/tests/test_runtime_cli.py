"""Every service's command line (shared_events.runtime.cli): its answers and exit codes."""

from __future__ import annotations

import argparse
import socket
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic_settings import SettingsConfigDict
from sqlalchemy.exc import OperationalError

from shared_events.runtime.cli import FAILED, OK, USAGE, Command, ServiceCli
from shared_events.runtime.settings import ServiceSettings

PASSWORD = "scram-Pa55word-example"


class ExampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLE_", extra="ignore")

    db_user: str = "example_service"
    db_password: str = "example_service"
    http_port: int = 8009
    consumer_group: str = "example-service"


@dataclass
class _Background:
    drained: bool = True

    def run_until(self, stop: object) -> bool:
        return self.drained


@dataclass
class _Engine:
    disposed: bool = False

    def dispose(self) -> None:
        self.disposed = True


@dataclass
class _Service:
    app: None = None
    background: _Background = field(default_factory=_Background)
    engine: _Engine = field(default_factory=_Engine)


@dataclass
class _Bootstrap:
    """Records how `serve` wired the service; serves no API, so `run_until` is the whole run."""

    drained: bool = True
    calls: list[dict[str, Any]] = field(default_factory=list)
    services: list[_Service] = field(default_factory=list)

    def __call__(self, settings: ExampleSettings, **switches: bool) -> Any:
        self.calls.append({"settings": settings, **switches})
        self.services.append(_Service(background=_Background(self.drained)))
        return self.services[-1]


def _cli(bootstrap: _Bootstrap | None = None, *commands: Command[Any]) -> ServiceCli[Any]:
    return ServiceCli("example", "examples", ExampleSettings, bootstrap or _Bootstrap(), commands)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(autouse=True)
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    # The process-wide JSON logging would outlive the test.
    monkeypatch.setattr("shared_events.runtime.cli.configure_json_logging", lambda *_: None)
    monkeypatch.setattr("shared_events.runtime.cli.trace_service", lambda *_: None)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bogus"],
        ["serve", "--nope"],
        ["migrate", "--wait", "soon"],
        ["serve", "--no-api", "--no-consumer", "--no-relay"],
    ],
)
def test_bad_usage_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        _cli().main(argv)

    assert exited.value.code == USAGE == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("example-service") and ": error: " in line
    assert line.endswith("(see --help)")


def test_a_bad_setting_exits_2_with_one_line_naming_the_field_and_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EXAMPLE_CONSUMER_BATCH_MAX", "0")
    monkeypatch.setenv("EXAMPLE_DB_PORT", "fivefourthreetwo")

    assert _cli().main(["serve"]) == USAGE

    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("example-service: bad settings: ")
    assert "consumer_batch_max (EXAMPLE_CONSUMER_BATCH_MAX)" in line
    assert "db_port (EXAMPLE_DB_PORT)" in line and "fivefourthreetwo" not in line


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
def test_kafka_settings_that_cannot_work_stop_the_start_in_one_line_naming_them(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variables: dict[str, str],
    named: str,
) -> None:
    for variable, value in variables.items():
        monkeypatch.setenv(variable, value)

    assert _cli().main(["serve"]) == USAGE

    [line] = capsys.readouterr().err.strip().splitlines()
    assert named in line


def test_a_bad_kafka_setting_never_prints_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EXAMPLE_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")  # credentials unused
    monkeypatch.setenv("EXAMPLE_KAFKA_SASL_USERNAME", "saga-example-service")
    monkeypatch.setenv("EXAMPLE_KAFKA_SASL_PASSWORD", PASSWORD)

    assert _cli().main(["migrate"]) == USAGE

    [line] = capsys.readouterr().err.strip().splitlines()
    assert "EXAMPLE_KAFKA_SASL_USERNAME" in line and PASSWORD not in line


def test_migrate_against_an_unreachable_database_exits_1_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _closed_port()
    monkeypatch.setenv("EXAMPLE_DB_PORT", str(port))
    monkeypatch.setenv("EXAMPLE_DB_PASSWORD", PASSWORD)

    assert _cli().main(["migrate"]) == FAILED == 1

    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(
        f"example-service: database unreachable at 127.0.0.1:{port}/saga as example_service: "
    )
    assert PASSWORD not in line


@pytest.mark.parametrize(
    ("argv", "switches"),
    [
        (["serve", "--no-api"], {"api": False, "consume": True, "relay": True}),
        (["serve", "--no-api", "--no-relay"], {"api": False, "consume": True, "relay": False}),
        (["serve", "--no-api", "--no-consumer"], {"api": False, "consume": False, "relay": True}),
    ],
)
def test_serve_wires_the_parts_asked_for_and_exits_0_once_drained(
    argv: list[str], switches: dict[str, bool]
) -> None:
    bootstrap = _Bootstrap()

    assert _cli(bootstrap).main(argv) == OK

    [call] = bootstrap.calls
    assert isinstance(call.pop("settings"), ExampleSettings)
    assert call == switches
    assert bootstrap.services[0].engine.disposed


def test_serve_exits_1_when_the_loops_did_not_drain() -> None:
    bootstrap = _Bootstrap(drained=False)

    assert _cli(bootstrap).main(["serve", "--no-api"]) == FAILED
    assert bootstrap.services[0].engine.disposed


def test_a_services_own_command_gets_its_arguments_and_the_settings() -> None:
    seen: list[tuple[ExampleSettings, argparse.Namespace]] = []

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--times", type=int, default=1)

    def run(settings: ExampleSettings, args: argparse.Namespace) -> int:
        seen.append((settings, args))
        return 7

    greet = Command("greet", help="says hello", run=run, arguments=add_arguments)

    assert _cli(None, greet).main(["greet", "--times", "3"]) == 7
    [(settings, args)] = seen
    assert isinstance(settings, ExampleSettings) and args.times == 3


def test_a_services_own_command_finding_the_database_down_exits_1_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def run(_settings: ExampleSettings, _args: argparse.Namespace) -> int:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    down = Command("down", help="finds the database down", run=run)

    assert _cli(None, down).main(["down"]) == FAILED
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == (
        "example-service: database unreachable at 127.0.0.1:5432/saga as example_service: "
        "connection refused"
    )
