"""`python -m inventory_service serve|migrate|publish-catalog`: run the service, migrate its
schema, or republish the whole catalog to `product-catalog`."""

import argparse
import signal
import sys
import threading
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
from sqlalchemy.orm import sessionmaker

from inventory_service import SCHEMA, SERVICE, handlers
from inventory_service.bootstrap import bootstrap
from inventory_service.db import create_db_engine
from inventory_service.settings import Settings
from inventory_service.unit_of_work import SqlUnitOfWork
from shared_events.runtime.logs import configure_json_logging
from shared_events.runtime.startup import retry_while_unreachable
from shared_events.runtime.telemetry import trace_service
from shared_events.topics import PRODUCT_CATALOG

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
    migrate_ = commands.add_parser("migrate", help="upgrade the inventory schema to head")
    migrate_.add_argument(
        "--wait", type=float, default=0.0, metavar="S", help="retry an unreachable DB for S seconds"
    )
    publish = commands.add_parser(
        "publish-catalog",
        help="stage a ProductUpserted of every product for product-catalog (via the outbox)",
        description=(
            "Write every product's current state to the outbox, bound for the compacted "
            "product-catalog topic; the outbox relay of a running inventory service publishes "
            "it. Run once after upgrading from a release that wrote the catalog to "
            "inventory-events, so that product-catalog holds every product."
        ),
    )
    publish.add_argument(
        "--page-size",
        type=_positive,
        default=handlers.CATALOG_PAGE_SIZE,
        metavar="N",
        help="products per transaction (default: %(default)s)",
    )
    publish.add_argument(
        "--wait", type=float, default=0.0, metavar="S", help="retry an unreachable DB for S seconds"
    )
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def alembic_config(engine: Engine) -> Config:
    """Alembic configuration built in code: the migrations inside the package, our schema."""
    config = Config()
    config.set_main_option("script_location", "inventory_service:migrations")
    config.set_main_option("version_table_schema", SCHEMA)
    config.attributes["engine"] = engine
    return config


def migrate(settings: Settings, wait_s: float = 0.0) -> int:
    """Upgrade the schema to head as the service's own role; retry an unreachable DB `wait_s`."""
    engine = create_db_engine(settings.database_url, connect_args={"connect_timeout": 5})
    try:
        retry_while_unreachable(lambda: command.upgrade(alembic_config(engine), "head"), wait_s)
    except OperationalError as error:
        return _unreachable(settings, error)
    finally:
        engine.dispose()
    log.info("schema migrated", schema=SCHEMA)
    return 0


def publish_catalog(settings: Settings, page_size: int, wait_s: float = 0.0) -> int:
    """Stage every product for `product-catalog` in the outbox, as the service's own role."""
    engine = create_db_engine(settings.database_url, connect_args={"connect_timeout": 5})
    uow = SqlUnitOfWork(sessionmaker(engine))
    staged: list[int] = []  # a retry starts over: republishing a product twice is harmless

    def publish() -> None:
        staged[:] = [handlers.publish_catalog(handlers.PublishCatalog(page_size), uow)]

    try:
        retry_while_unreachable(publish, wait_s)
    except OperationalError as error:
        return _unreachable(settings, error)
    finally:
        engine.dispose()
    log.info("catalog staged", products=staged[0], topic=PRODUCT_CATALOG)
    print(
        f"{PROG}: staged {staged[0]} products for {PRODUCT_CATALOG}; the outbox relay of a "
        "running inventory service publishes them"
    )
    return 0


def serve(settings: Settings, *, api: bool, consume: bool, relay: bool) -> int:
    """Run the configured parts until SIGTERM/SIGINT, then drain them (exit 0).

    PostgreSQL or Kafka being down is no reason to exit: the API answers at once (ready 503
    naming what is missing) and the loops start when both answer.
    """
    if not (api or consume or relay):
        print(f"{PROG}: nothing to run (--no-api with --no-consumer and --no-relay)")
        return 2
    service = bootstrap(settings, api=api, consume=consume, relay=relay)
    trace_service(SERVICE, service.app)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # uvicorn re-raises the signal it caught after its graceful shutdown; with the default
    # handler that would end a clean drain as "killed by SIGTERM" instead of exit code 0.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if service.app is not None:
        uvicorn.run(
            service.app,
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,
            access_log=False,
        )
        return 0
    return 0 if service.background.run_until(stop) else 1


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
        return migrate(settings, wait_s=args.wait)
    if args.command == "publish-catalog":
        return publish_catalog(settings, args.page_size, wait_s=args.wait)
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
