"""`python -m payment_service serve [--no-api|--no-consumer|--no-relay] | migrate [--wait S]`."""

import sys
from collections.abc import Sequence

from payment_service import SCHEMA, SERVICE
from payment_service.bootstrap import bootstrap
from payment_service.settings import Settings
from shared_events.runtime.cli import ServiceCli

CLI = ServiceCli(SERVICE, SCHEMA, Settings, bootstrap)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command line; the exit code of the process (see shared_events.runtime.cli)."""
    return CLI.main(argv)


if __name__ == "__main__":
    sys.exit(main())
