"""`python -m shared_events.kafka.dead_letters list|show|replay`: see `cli`."""

import sys

from shared_events.kafka.dead_letters.cli import main

sys.exit(main())
