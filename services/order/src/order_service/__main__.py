"""`python -m order_service serve [--no-api|--no-consumer|--no-relay] | migrate [--wait S]`."""

import sys
from collections.abc import Sequence

from order_service import SCHEMA, SERVICE
from order_service.bootstrap import bootstrap
from order_service.settings import Settings
from shared_events.runtime.cli import ServiceCli

CLI = ServiceCli(SERVICE, SCHEMA, Settings, bootstrap)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command line; the exit code of the process (see shared_events.runtime.cli)."""
    return CLI.main(argv)


if __name__ == "__main__":
    sys.exit(main())
