"""`python -m shared_events.asyncapi generate|check`: the committed AsyncAPI document.

Exit codes: 0 up to date (or written), 1 stale or missing (one line on stderr says so).
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from shared_events.asyncapi.files import ASYNCAPI_FILE, read, render, stale_line

PROG = "python -m shared_events.asyncapi"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument("command", choices=["generate", "check"])
    parser.add_argument(
        "--file", type=Path, default=ASYNCAPI_FILE, help="the document (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    path: Path = args.file
    generated = render()
    committed = read(path)
    if args.command == "generate":
        if committed == generated:
            print(f"OK: {path} is up to date")
        else:
            path.write_text(generated, encoding="utf-8")
            print(f"OK: wrote {path}")
        return 0
    fix = f"run `{PROG} generate` (make schemas) and commit it"
    if committed is None:
        print(f"asyncapi check: {path} is missing; {fix}", file=sys.stderr)
        return 1
    line = stale_line(committed, generated)
    if line is not None:
        print(
            f"asyncapi check: {path} is stale (differs from the contracts from line {line}); {fix}",
            file=sys.stderr,
        )
        return 1
    print(f"OK: {path} is up to date with the contracts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
