"""Every service's command line: `python -m <service>_service serve | migrate | ...`.

One parser, one set of answers (`--help` for the rest):

- `serve [--no-api] [--no-consumer] [--no-relay]`: HTTP API, event consumer and outbox relay
  until SIGTERM/SIGINT, then a drain; PostgreSQL or Kafka being down is no reason to exit
  (the API answers at once, ready 503 naming what is missing, and the loops start when both
  answer);
- `migrate [--wait S]`: alembic upgrade head as the service's own role;
- what the service adds (`Command`), e.g. inventory's `publish-catalog`.

Exit codes: 0 done; 1 the database unreachable (one line naming it) or a loop died;
2 bad usage or bad settings (one line naming the variable; never a value, so never a password).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, Protocol, TypeVar

import structlog
import uvicorn
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from shared_events.runtime.logs import configure_json_logging
from shared_events.runtime.migrations import upgrade
from shared_events.runtime.settings import ServiceSettings
from shared_events.runtime.startup import retry_while_unreachable
from shared_events.runtime.telemetry import trace_service
from shared_events.runtime.wiring import Service, database_engine

OK = 0
FAILED = 1
"""The database unreachable, or a delivery loop died."""
USAGE = 2
"""Bad usage or bad settings."""

log = structlog.get_logger(__name__)

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
SettingsT_contra = TypeVar("SettingsT_contra", bound=ServiceSettings, contravariant=True)


class Bootstrap(Protocol[SettingsT_contra]):
    """A service's `bootstrap()`, as `serve` calls it."""

    def __call__(
        self, settings: SettingsT_contra, *, api: bool, consume: bool, relay: bool
    ) -> Service[Any, Any]: ...


def _no_arguments(_parser: argparse.ArgumentParser) -> None:
    return None


@dataclass(frozen=True)
class Command(Generic[SettingsT]):
    """A subcommand of the service's own: `run(settings, args)` returns the exit code.

    An `OperationalError` out of `run` is the database unreachable: one line, exit 1.
    """

    name: str
    help: str
    run: Callable[[SettingsT, argparse.Namespace], int]
    arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
    description: str | None = None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: scripts and compose logs read better.
        self.exit(USAGE, f"{self.prog}: error: {message} (see --help)\n")


def add_wait_argument(parser: argparse.ArgumentParser) -> None:
    """`--wait S`: retry an unreachable database for S seconds (a container starting first)."""
    parser.add_argument(
        "--wait", type=float, default=0.0, metavar="S", help="retry an unreachable DB for S seconds"
    )


@dataclass(frozen=True)
class ServiceCli(Generic[SettingsT]):
    """The command line of one service: `main(argv)` is its `__main__`."""

    service: str
    """"order", "payment" or "inventory": the package is `<service>_service`."""
    schema: str
    settings: type[SettingsT]
    bootstrap: Bootstrap[SettingsT]
    commands: Sequence[Command[SettingsT]] = ()

    @property
    def prog(self) -> str:
        """How the service names itself on stderr (its console script)."""
        return f"{self.service}-service"

    @property
    def package(self) -> str:
        return f"{self.service}_service"

    def parser(self) -> argparse.ArgumentParser:
        """serve, migrate and the service's own commands."""
        parser = _Parser(prog=self.prog, description=f"The {self.service} service of the saga.")
        commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
        serve = commands.add_parser("serve", help="HTTP API + event consumer + outbox relay")
        serve.add_argument("--no-api", action="store_true", help="consumer/relay only, no HTTP")
        serve.add_argument("--no-consumer", action="store_true", help="do not consume events")
        serve.add_argument("--no-relay", action="store_true", help="do not publish the outbox")
        migrate = commands.add_parser(
            "migrate", help=f"upgrade the {self.schema} schema to the latest revision"
        )
        add_wait_argument(migrate)
        for command in self.commands:
            command.arguments(
                commands.add_parser(
                    command.name, help=command.help, description=command.description
                )
            )
        return parser

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Run a command line; the exit code of the process."""
        parser = self.parser()
        args = parser.parse_args(argv)
        if args.command == "serve" and args.no_api and args.no_consumer and args.no_relay:
            parser.error("serve needs at least one of the API, the consumer and the relay")
        try:
            settings = self.settings()
        except ValidationError as error:
            print(
                f"{self.prog}: bad settings: {settings_problems(self.settings, error)}",
                file=sys.stderr,
            )
            return USAGE
        configure_json_logging(self.service, settings.log_level)
        try:
            return self._run(settings, args)
        except OperationalError as error:
            print(
                f"{self.prog}: database unreachable at {settings.database}: {first_line(error)}",
                file=sys.stderr,
            )
            return FAILED

    def _run(self, settings: SettingsT, args: argparse.Namespace) -> int:
        if args.command == "serve":
            return self.serve(
                settings, api=not args.no_api, consume=not args.no_consumer, relay=not args.no_relay
            )
        if args.command == "migrate":
            return self.migrate(settings, wait_s=args.wait)
        [command] = [c for c in self.commands if c.name == args.command]
        return command.run(settings, args)

    def migrate(self, settings: SettingsT, wait_s: float = 0.0) -> int:
        """Upgrade the schema to head as the service's own role; retry unreachable `wait_s`."""
        engine = database_engine(settings)
        try:
            retry_while_unreachable(lambda: upgrade(self.package, engine), wait_s)
        finally:
            engine.dispose()
        log.info("schema migrated", schema=self.schema)
        return OK

    def serve(self, settings: SettingsT, *, api: bool, consume: bool, relay: bool) -> int:
        """Run the parts asked for until SIGTERM/SIGINT, then drain them (0 when drained)."""
        service = self.bootstrap(settings, api=api, consume=consume, relay=relay)
        trace_service(self.service, service.app)
        stop = threading.Event()
        # uvicorn re-raises the signal it caught after its graceful shutdown; with the default
        # handler that would end a clean drain as "killed by SIGTERM" instead of exit code 0.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        try:
            if service.app is None:
                log.info("serving without an HTTP API")
                return OK if service.background.run_until(stop) else FAILED
            uvicorn.run(
                service.app,
                host=settings.http_host,
                port=settings.http_port,
                log_config=None,
                access_log=False,  # a line per request on the hot path; /metrics counts them
            )
            return OK
        finally:
            service.engine.dispose()


def settings_problems(settings: type[ServiceSettings], error: ValidationError) -> str:
    """Every problem in one line, each naming its variable (`ORDER_DB_PORT`), never a value."""
    problems = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        if problem["loc"]:
            field = str(problem["loc"][0])
            message = f"{field} ({settings.variable(field)}): {message}"
        problems.append(message)
    return "; ".join(problems)


def first_line(error: Exception) -> str:
    """The driver's first line of an error (the rest is SQLAlchemy's boilerplate)."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
