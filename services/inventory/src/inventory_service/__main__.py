"""`python -m inventory_service serve [--no-api] [--no-consumer] [--no-relay] | migrate
[--wait S] | publish-catalog [--page-size N] [--wait S]`: run the service, migrate its
schema, or republish the whole catalog to `product-catalog`."""

import argparse
import sys
from collections.abc import Sequence

import structlog
from sqlalchemy.orm import sessionmaker

from inventory_service import SCHEMA, SERVICE, handlers
from inventory_service.bootstrap import bootstrap
from inventory_service.settings import Settings
from inventory_service.unit_of_work import SqlUnitOfWork
from shared_events.runtime.cli import OK, Command, ServiceCli, add_wait_argument
from shared_events.runtime.startup import retry_while_unreachable
from shared_events.runtime.wiring import database_engine
from shared_events.topics import PRODUCT_CATALOG

log = structlog.get_logger(__name__)


def publish_catalog(settings: Settings, args: argparse.Namespace) -> int:
    """Stage every product for `product-catalog` in the outbox, as the service's own role."""
    engine = database_engine(settings)
    uow = SqlUnitOfWork(sessionmaker(engine))
    staged: list[int] = []  # a retry starts over: republishing a product twice is harmless

    def publish() -> None:
        staged[:] = [handlers.publish_catalog(handlers.PublishCatalog(args.page_size), uow)]

    try:
        retry_while_unreachable(publish, args.wait)
    finally:
        engine.dispose()
    log.info("catalog staged", products=staged[0], topic=PRODUCT_CATALOG)
    print(
        f"{CLI.prog}: staged {staged[0]} products for {PRODUCT_CATALOG}; the outbox relay of a "
        "running inventory service publishes them"
    )
    return OK


def _publish_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--page-size",
        type=_positive,
        default=handlers.CATALOG_PAGE_SIZE,
        metavar="N",
        help="products per transaction (default: %(default)s)",
    )
    add_wait_argument(parser)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


PUBLISH_CATALOG = Command(
    "publish-catalog",
    help="stage a ProductUpserted of every product for product-catalog (via the outbox)",
    run=publish_catalog,
    arguments=_publish_arguments,
    description=(
        "Write every product's current state to the outbox, bound for the compacted "
        "product-catalog topic; the outbox relay of a running inventory service publishes "
        "it. Run once after upgrading from a release that wrote the catalog to "
        "inventory-events, so that product-catalog holds every product."
    ),
)

CLI = ServiceCli(SERVICE, SCHEMA, Settings, bootstrap, commands=(PUBLISH_CATALOG,))


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command line; the exit code of the process (see shared_events.runtime.cli)."""
    return CLI.main(argv)


if __name__ == "__main__":
    sys.exit(main())
