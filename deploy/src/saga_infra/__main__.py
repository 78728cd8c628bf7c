"""Entry point of `python -m saga_infra`."""

import sys

from saga_infra.cli import main

sys.exit(main())
