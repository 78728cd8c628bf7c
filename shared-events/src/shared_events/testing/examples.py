"""Every committed event version, and payloads generated from its committed JSON Schema.

For consumer-side contract tests: a consumer must accept every version of every event it
consumes that was ever published, because a record of any of them may still be on a topic
(or come from a producer not yet upgraded). The schemas are the committed files
(`shared-events/schemas/<event_type>/v<N>.json`, shipped in the wheel as
`shared_events/published_schemas/`), not the models of this release: an old version's model
or upcaster removed too early is exactly what the test is there to catch.

`payloads(schema)` is a Hypothesis strategy over the JSON Schema subset the contracts'
pydantic models emit (objects, `$ref` into `$defs`, strings with length, pattern, `uuid` and
`date-time` formats, integers with bounds, arrays, enums, `anyOf`, `const`). A keyword outside
it raises `UnsupportedSchema` rather than generating payloads the schema does not describe.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Final
from uuid import uuid4

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from shared_events.contracts.event import Event
from shared_events.envelope import Envelope
from shared_events.kafka.codec import decode
from shared_events.topology import SERVICES

PACKAGED_DIR: Final = "published_schemas"
"""Where the wheel carries the committed schemas, inside the `shared_events` package."""

TREE_DIR: Final = Path(__file__).resolve().parents[3] / "schemas"
"""`shared-events/schemas` of a source checkout (an editable install has no packaged copy)."""

MAX_ITEMS: Final = 4
MAX_INTEGER: Final = 10**9

_ANNOTATIONS: Final = frozenset({"title", "description", "$schema", "examples", "default"})
_KNOWN: Final = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "$ref",
        "$defs",
        "format",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "enum",
        "const",
        "items",
        "minItems",
        "maxItems",
        "anyOf",
    }
)


class UnsupportedSchema(ValueError):
    """A schema keyword or form `payloads` does not generate for."""


@dataclass(frozen=True)
class CommittedVersion:
    """One published (event type, version): its topic and its committed JSON Schema."""

    event_type: str
    version: int
    topic: str
    schema: Mapping[str, Any]

    def __str__(self) -> str:
        return f"{self.event_type}-v{self.version}"


def schemas_root() -> Traversable:
    """The committed schemas: the wheel's packaged copy, else the source checkout's."""
    packaged = files("shared_events").joinpath(PACKAGED_DIR)
    return packaged if packaged.is_dir() else TREE_DIR


def committed_versions(root: Traversable | None = None) -> list[CommittedVersion]:
    """Every committed (type, version), by type then version."""
    found = []
    for directory in (root or schemas_root()).iterdir():
        if not directory.is_dir():
            continue
        for file in directory.iterdir():
            if file.name.startswith("v") and file.name.endswith(".json"):
                schema = json.loads(file.read_text())
                found.append(
                    CommittedVersion(
                        schema["x-event-type"],
                        int(schema["x-event-version"]),
                        schema["x-topic"],
                        schema,
                    )
                )
    return sorted(found, key=lambda v: (v.event_type, v.version))


def consumed_versions(service: str, root: Traversable | None = None) -> list[CommittedVersion]:
    """Every committed version of every event type `service`'s consumer applies."""
    (saga_service,) = (s for s in SERVICES if s.name == service)
    handled = {event_type for types in saga_service.handles.values() for event_type in types}
    return [v for v in committed_versions(root) if v.event_type in handled]


def payloads(schema: Mapping[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads valid against `schema` (the subset above), as JSON would carry them."""
    strategy: st.SearchStrategy[dict[str, Any]] = _strategy(schema, schema.get("$defs", {}))
    return strategy


def record_value(version: CommittedVersion, payload: Mapping[str, Any]) -> bytes:
    """A record value as a producer of that version writes it: the envelope around `payload`."""
    envelope = {
        "event_id": str(uuid4()),
        "event_type": version.event_type,
        "event_version": version.version,
        "occurred_at": datetime.now(UTC).isoformat(),
        "producer": {"service": "contract-test", "contracts_version": "0.0.0"},
        "correlation_id": str(uuid4()),
        "causation_id": None,
        "payload": dict(payload),
    }
    return orjson.dumps(envelope)


def _strategy(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    unknown = set(schema) - _KNOWN - _ANNOTATIONS - {k for k in schema if k.startswith("x-")}
    if unknown:
        raise UnsupportedSchema(f"keywords {sorted(unknown)} in {schema.get('title', schema)}")
    if "$ref" in schema:
        prefix = "#/$defs/"
        ref = schema["$ref"]
        if not ref.startswith(prefix) or ref.removeprefix(prefix) not in defs:
            raise UnsupportedSchema(f"$ref {ref!r}: only #/$defs/<name> of the same schema")
        return _strategy(defs[ref.removeprefix(prefix)], defs)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(list(schema["enum"]))
    if "anyOf" in schema:
        return st.one_of([_strategy(option, defs) for option in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "object":
        return _object(schema, defs)
    if kind == "array":
        return st.lists(
            _strategy(schema.get("items", {}), defs),
            min_size=schema.get("minItems", 0),
            max_size=schema.get("maxItems", max(MAX_ITEMS, schema.get("minItems", 0))),
        )
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        low = schema.get("minimum", -MAX_INTEGER)
        if "exclusiveMinimum" in schema:
            low = max(low, schema["exclusiveMinimum"] + 1)
        high = schema.get("maximum", MAX_INTEGER)
        if "exclusiveMaximum" in schema:
            high = min(high, schema["exclusiveMaximum"] - 1)
        return st.integers(min_value=low, max_value=high)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    raise UnsupportedSchema(f"type {kind!r} in {schema.get('title', schema)}")


def _object(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    fields = {name: _strategy(sub, defs) for name, sub in properties.items()}
    present = st.fixed_dictionaries(
        {name: s for name, s in fields.items() if name in required},
        optional={name: s for name, s in fields.items() if name not in required},
    )
    return present


def _string(schema: Mapping[str, Any]) -> st.SearchStrategy[str]:
    form = schema.get("format")
    if form == "uuid":
        return st.uuids().map(str)
    if form == "date-time":
        return st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat())
    if form is not None:
        raise UnsupportedSchema(f"string format {form!r}")
    low, high = schema.get("minLength", 0), schema.get("maxLength", 40)
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True).filter(
            lambda text: low <= len(text) <= high
        )
    alphabet = st.characters(codec="utf-8", exclude_characters="\x00")
    return st.text(alphabet, min_size=low, max_size=high)


def accepts_every_example(
    version: CommittedVersion,
    apply: Callable[[Envelope[Event]], object],
    *,
    max_examples: int = 25,
) -> None:
    """Decode generated records of `version` as a consumer does and `apply` each (a service's
    handler of the decoded type, on a fresh fake unit of work); fails on the first example
    that does not decode or that the handler refuses, with that example."""

    @settings(max_examples=max_examples, deadline=None, database=None)
    @given(payload=payloads(version.schema))
    def accepted(payload: dict[str, Any]) -> None:
        apply(decode(record_value(version, payload)))

    accepted()
