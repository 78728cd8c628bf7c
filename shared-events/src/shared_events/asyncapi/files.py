"""The committed `asyncapi.yaml`: its text as generated, and where it departs from that."""

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from shared_events.asyncapi.document import build
from shared_events.asyncapi.yaml_text import dump
from shared_events.event_registry import EVENT_REGISTRY
from shared_events.registry import EventRegistry
from shared_events.schemas.files import SCHEMAS_DIR
from shared_events.topology import SERVICES, SagaService

ASYNCAPI_FILE: Final = SCHEMAS_DIR.parent / "asyncapi.yaml"
"""`shared-events/asyncapi.yaml` of a source checkout, beside the `schemas/` it references."""

_HEADER: Final = (
    "# Generated from the shared-events contracts by `python -m shared_events.asyncapi "
    "generate`\n# (make schemas); do not edit. `make schemas-check` fails when it is stale.\n"
)


def render(
    registry: EventRegistry = EVENT_REGISTRY, services: Sequence[SagaService] = SERVICES
) -> str:
    """The document's text as committed: a header comment, then block YAML."""
    return _HEADER + dump(build(registry, services))


def stale_line(committed: str, generated: str) -> int | None:
    """The first line (1-based) where the committed text departs from the generated one."""
    if committed == generated:
        return None
    old, new = committed.splitlines(keepends=True), generated.splitlines(keepends=True)
    for number, (before, after) in enumerate(zip(old, new, strict=False), start=1):
        if before != after:
            return number
    return min(len(old), len(new)) + 1


def read(path: Path) -> str | None:
    """The committed text, or None when there is no such file."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
