"""JSON Schemas of the event models, and the committed `<event_type>/v<N>.json` files."""

import json
import re
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from shared_events.contracts.event import Event
from shared_events.envelope import Envelope
from shared_events.registry import EventRegistry

SCHEMAS_DIR: Final = Path(__file__).resolve().parents[3] / "schemas"
"""`shared-events/schemas` of a source checkout: where the published schemas are committed."""

ENVELOPE_FILE: Final = "envelope.json"
"""The envelope's schema, committed beside the `<event_type>/` directories."""

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"

_VERSION_FILE: Final = re.compile(r"v([1-9][0-9]*)\.json")

SchemaKey = tuple[str, int]
"""An (event type, event version) pair."""


def schema_of(model: type[Event]) -> dict[str, Any]:
    """The JSON Schema of one event version's payload, annotated with type, version, topic."""
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        **model.model_json_schema(),
        "x-event-type": model.event_type,
        "x-event-version": model.event_version,
        "x-topic": model.topic,
    }


def envelope_schema(model: type[BaseModel] = Envelope) -> dict[str, Any]:
    """The JSON Schema of the envelope every event travels in; its payload is any event's."""
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        **model.model_json_schema(),
        "x-payload-schema": "<event_type>/v<event_version>.json",
    }


def render(schema: dict[str, Any]) -> str:
    """A schema as committed: sorted keys, two-space indent, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_path(schemas_dir: Path, key: SchemaKey) -> Path:
    """Where the schema of one (type, version) is committed."""
    event_type, version = key
    return schemas_dir / event_type / f"v{version}.json"


def generated_schemas(registry: EventRegistry) -> dict[SchemaKey, dict[str, Any]]:
    """The schema of every (type, version) in a registry, from its models."""
    return {
        (event_type, version): schema_of(registry.model(event_type, version))
        for event_type in registry.event_types()
        for version in registry.versions(event_type)
    }


def committed_files(schemas_dir: Path) -> dict[SchemaKey, Path]:
    """Every `<event_type>/v<N>.json` file under a schemas directory."""
    found: dict[SchemaKey, Path] = {}
    for path in sorted(schemas_dir.glob("*/*.json")):
        match = _VERSION_FILE.fullmatch(path.name)
        if match:
            found[(path.parent.name, int(match.group(1)))] = path
    return found


def write_schema(schemas_dir: Path, key: SchemaKey, schema: dict[str, Any]) -> bool:
    """Write one schema file unless it is already up to date; True when it was written."""
    path = schema_path(schemas_dir, key)
    text = render(schema)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True
