"""Entry point of `python -m saga_e2e.compat`."""

import sys

from saga_e2e.compat.cli import main

sys.exit(main())
