"""`python -m inventory_service serve|migrate`: run the service, or migrate its schema."""

import argparse
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn

import structlog
import uvicorn
from alembic import command
from alembic.config import Config
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from inventory_service import SCHEMA, SERVICE
from inventory_service.bootstrap import bootstrap, database_reachable
from inventory_service.db import create_db_engine
from inventory_service.settings import Settings
from shared_events.kafka.logs import configure_json_logging

PROG = "inventory-service"

log = structlog.get_logger(__name__)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: scripts and compose logs read better.
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Inventory service of the order saga.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    serve = commands.add_parser("serve", help="HTTP API + event consumer + outbox relay")
    serve.add_argument("--no-api", action="store_true", help="consumer/relay only, no HTTP")
    serve.add_argument("--no-consumer", action="store_true", help="do not consume events")
    serve.add_argument("--no-relay", action="store_true", help="do not publish the outbox")
    commands.add_parser("migrate", help="upgrade the inventory schema to the latest revision")
    return parser


def alembic_config(engine: Engine) -> Config:
    """Alembic configuration built in code: the migrations inside the package, our schema."""
    config = Config()
    config.set_main_option("script_location", "inventory_service:migrations")
    config.set_main_option("version_table_schema", SCHEMA)
    config.attributes["engine"] = engine
    return config


def migrate(settings: Settings) -> int:
    """Upgrade the schema to head as the service's own role."""
    engine = create_db_engine(settings.database_url, connect_args={"connect_timeout": 5})
    try:
        command.upgrade(alembic_config(engine), "head")
    except OperationalError as error:
        return _unreachable(settings, error)
    finally:
        engine.dispose()
    log.info("schema migrated", schema=SCHEMA)
    return 0


def serve(settings: Settings, *, api: bool, consume: bool, relay: bool) -> int:
    """Run the configured parts until SIGTERM/SIGINT."""
    service = bootstrap(settings, api=api, consume=consume, relay=relay)
    if not database_reachable(service.engine):
        return _unreachable(settings, None)
    if service.app is not None:
        uvicorn.run(
            service.app,
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,
            access_log=False,
        )
        return 0
    if not (consume or relay):
        print(f"{PROG}: nothing to run (--no-api with --no-consumer and --no-relay)")
        return 2

    def on_signal(signum: int, frame: FrameType | None) -> None:
        service.worker.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service.worker.start()
    service.worker.wait()
    service.worker.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run it; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        problems = "; ".join(
            ": ".join(filter(None, (".".join(map(str, e["loc"])), e["msg"])))
            for e in error.errors()
        )
        print(f"{PROG}: invalid settings: {problems}", file=sys.stderr)
        return 2
    configure_json_logging(SERVICE, settings.log_level)
    if args.command == "migrate":
        return migrate(settings)
    return serve(
        settings, api=not args.no_api, consume=not args.no_consumer, relay=not args.no_relay
    )


def _unreachable(settings: Settings, error: Exception | None) -> int:
    reason = (
        f": {str(error.orig).strip().splitlines()[0]}"
        if isinstance(error, OperationalError)
        else ""
    )
    print(
        f"{PROG}: database unreachable at {settings.db_host}:{settings.db_port}/"
        f"{settings.db_name} as {settings.db_user}{reason}",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
