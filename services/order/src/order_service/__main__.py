"""`python -m order_service serve [--no-api|--no-consumer|--no-relay] | migrate`."""

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

import structlog
import uvicorn
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from order_service import SERVICE
from order_service.bootstrap import bootstrap, upgrade_schema
from order_service.settings import Settings
from shared_events.runtime.logs import configure_json_logging
from shared_events.runtime.startup import retry_while_unreachable
from shared_events.runtime.telemetry import trace_service

PROG = "order_service"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, exit code 2: the usage is in --help.
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run a CLI command; the exit code of the process."""
    parser = _Parser(prog=PROG, description="Order service of the order saga.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    serve = commands.add_parser("serve", help="HTTP API + event consumer + outbox relay")
    serve.add_argument("--no-api", action="store_true", help="consumer/relay only, no HTTP")
    serve.add_argument("--no-consumer", action="store_true", help="do not consume events")
    serve.add_argument("--no-relay", action="store_true", help="do not publish the outbox")
    migrate_ = commands.add_parser(
        "migrate", help="upgrade the orders schema to the latest revision"
    )
    migrate_.add_argument(
        "--wait", type=float, default=0.0, metavar="S", help="retry an unreachable DB for S seconds"
    )
    args = parser.parse_args(argv)
    if args.command == "serve" and args.no_api and args.no_consumer and args.no_relay:
        parser.error("serve needs at least one of the API, the consumer and the relay")
    try:
        settings = Settings()
    except ValidationError as error:
        first = error.errors()[0]
        print(f"{PROG}: bad settings: {first['loc']}: {first['msg']}", file=sys.stderr)
        return 1
    configure_json_logging(SERVICE, settings.log_level)
    if args.command == "migrate":
        return migrate(settings, wait_s=args.wait)
    return run(
        settings, api=not args.no_api, consumer=not args.no_consumer, relay=not args.no_relay
    )


def migrate(settings: Settings, wait_s: float = 0.0) -> int:
    """Alembic upgrade head, as the service's own role; retry an unreachable DB for `wait_s`."""
    try:
        retry_while_unreachable(lambda: upgrade_schema(settings.database_url), wait_s)
    except OperationalError as error:
        print(f"{PROG}: database unreachable: {_first_line(error)}", file=sys.stderr)
        return 1
    structlog.get_logger(__name__).info("migrated", schema="orders")
    return 0


def run(settings: Settings, *, api: bool, consumer: bool, relay: bool) -> int:
    """Serve until SIGTERM/SIGINT, then drain the consumer and relay (exit 0 when drained).

    PostgreSQL or Kafka being down is no reason to exit: the API answers at once (ready 503
    naming what is missing) and the loops start when both answer.
    """
    service = bootstrap(settings, with_api=api, with_consumer=consumer, with_relay=relay)
    trace_service(SERVICE, service.app)
    stop = threading.Event()
    # uvicorn re-raises the signal it caught after its graceful shutdown; with the default
    # handler that would end a clean drain as "killed by SIGTERM" instead of exit code 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if service.app is not None:
        uvicorn.run(
            service.app,
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,
            access_log=False,  # a line per request on the hot path; /metrics counts requests
        )
        return 0
    return 0 if service.background.run_until(stop) else 1


def _first_line(error: Exception) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
