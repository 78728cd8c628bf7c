"""`python -m payment_service serve|migrate`: the service's command line."""

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn

import structlog
import uvicorn
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from payment_service import SERVICE
from payment_service.bootstrap import Service, bootstrap, migrate
from payment_service.settings import Settings
from shared_events.runtime.logs import configure_json_logging
from shared_events.runtime.startup import retry_while_unreachable
from shared_events.runtime.telemetry import trace_service

PROG = "payment_service"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, exit code 2: usage errors are for people and for scripts.
        self.exit(2, f"{PROG}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=f"python -m {PROG}", description="The payment service of the saga.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{serve,migrate}")
    serve = commands.add_parser("serve", help="HTTP API + event consumer + outbox relay")
    serve.add_argument("--no-consumer", action="store_true", help="do not consume events")
    serve.add_argument("--no-relay", action="store_true", help="do not publish the outbox")
    serve.add_argument("--no-api", action="store_true", help="consumer/relay only, no HTTP")
    migrate_ = commands.add_parser("migrate", help="upgrade the payments schema to head")
    migrate_.add_argument(
        "--wait", type=float, default=0.0, metavar="S", help="retry an unreachable DB for S seconds"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        first = error.errors()[0]
        print(f"{PROG}: invalid settings: {first['loc']}: {first['msg']}", file=sys.stderr)
        return 2
    configure_json_logging(SERVICE, settings.log_level)
    if args.command == "migrate":
        try:
            retry_while_unreachable(lambda: migrate(settings), args.wait)
        except OperationalError as error:
            return _unreachable(settings, str(error.orig or error).strip().splitlines()[0])
        return 0
    if args.no_api and args.no_consumer and args.no_relay:
        print(f"{PROG}: error: serve with nothing to run", file=sys.stderr)
        return 2
    # PostgreSQL or Kafka being down is no reason to exit: the API answers at once (ready
    # 503 naming what is missing) and the loops start when both answer.
    service = bootstrap(settings, consume=not args.no_consumer, relay=not args.no_relay)
    trace_service(SERVICE, service.app)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    # uvicorn re-raises the signal it caught after its graceful shutdown; with the default
    # handler that would end a clean drain as "killed by SIGTERM" instead of exit code 0.
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if args.no_api:
        return _run_worker_only(service, stop)
    uvicorn.run(
        service.app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,  # a line per request on the hot path; /metrics counts requests
    )
    return 0


def _unreachable(settings: Settings, reason: str) -> int:
    where = f"{settings.db_host}:{settings.db_port}/{settings.db_name}"
    print(f"{PROG}: database {where} unreachable: {reason}", file=sys.stderr)
    return 1


def _run_worker_only(service: Service, stop: threading.Event) -> int:
    structlog.get_logger(__name__).info("worker starting (no HTTP API)")
    return 0 if service.background.run_until(stop) else 1


if __name__ == "__main__":
    sys.exit(main())
