"""`python -m shared_events.schemas generate|check`: the committed event schemas and their gate."""

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from shared_events.registry import EventRegistry
from shared_events.schemas.files import SCHEMAS_DIR
from shared_events.schemas.gate import check, generate

_HINT = (
    "if the change is intended and compatible, run `python -m shared_events.schemas generate`"
    " and commit the schemas; a breaking change needs a new version with an upcaster"
)


def load_registry(spec: str) -> EventRegistry:
    """Import a registry named `package.module:attribute`."""
    module_name, _, attribute = spec.partition(":")
    registry = getattr(importlib.import_module(module_name), attribute or "EVENT_REGISTRY")
    if not isinstance(registry, EventRegistry):
        raise SystemExit(f"{spec} is not an EventRegistry")
    return registry


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m shared_events.schemas", description=__doc__)
    parser.add_argument("command", choices=["generate", "check"])
    parser.add_argument("--schemas-dir", type=Path, default=SCHEMAS_DIR, help="committed schemas")
    parser.add_argument(
        "--registry",
        default="shared_events.event_registry:EVENT_REGISTRY",
        help="the models to check, as module:attribute (default: %(default)s)",
    )
    parser.add_argument(
        "--force", action="store_true", help="generate: rewrite even incompatible versions"
    )
    args = parser.parse_args(argv)
    registry = load_registry(args.registry)
    if args.command == "generate":
        report = generate(registry, args.schemas_dir, force=args.force)
        verb = "refused to rewrite"
    else:
        report = check(registry, args.schemas_dir)
        verb = "found"
    for problem in report.problems:
        print(f"- {problem}", file=sys.stderr)
    if report.problems:
        print(
            f"schemas {args.command}: {verb} {len(report.problems)} problem(s); {_HINT}",
            file=sys.stderr,
        )
        return 1
    done = "written to" if args.command == "generate" else "up to date and compatible in"
    counts = f"the envelope and {report.checked} schemas of {report.event_types} event types"
    print(f"OK: {counts} {done} {args.schemas_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
