"""The schema gate: committed schemas must be current, and every change compatible."""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from shared_events.envelope import Envelope
from shared_events.registry import EventRegistry
from shared_events.schemas.compatibility import (
    Incompatibility,
    reader_problems,
    removed_properties,
)
from shared_events.schemas.files import (
    ENVELOPE_FILE,
    SchemaKey,
    committed_files,
    envelope_schema,
    generated_schemas,
    render,
    write_schema,
)

Schemas = Mapping[SchemaKey, Mapping[str, Any]]


@dataclass
class GateReport:
    """What the gate found: problems (empty when all is well) and what it looked at."""

    problems: list[str] = field(default_factory=list)
    checked: int = 0
    event_types: int = 0


def check(
    registry: EventRegistry, schemas_dir: Path, *, envelope: type[BaseModel] = Envelope
) -> GateReport:
    """Compare the envelope and a registry's models with the committed schemas: staleness and
    compatibility."""
    report = GateReport(event_types=len(registry.event_types()))
    report.problems += _envelope_problems(schemas_dir, envelope_schema(envelope))
    generated = generated_schemas(registry)
    committed: dict[SchemaKey, dict[str, Any]] = {}
    for key, path in committed_files(schemas_dir).items():
        try:
            committed[key] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            report.problems.append(f"{_name(key)}: cannot read {path}: {error}")
    for key, schema in generated.items():
        report.checked += 1
        if key not in committed:
            report.problems.append(f"{_name(key)}: no committed schema (stale: run generate)")
        elif render(dict(committed[key])) != render(schema):
            report.problems.append(f"{_name(key)}: committed schema is stale (run generate)")
            report.problems += [
                f"{_name(key)}: {p}" for p in changed_version(committed[key], schema)
            ]
    for key in committed.keys() - generated.keys():
        report.problems.append(f"{_name(key)}: committed, but no model reads it any more")
    report.problems += evolution_problems(registry, {**generated, **committed}, generated)
    return report


def generate(
    registry: EventRegistry,
    schemas_dir: Path,
    *,
    force: bool = False,
    envelope: type[BaseModel] = Envelope,
) -> GateReport:
    """Write every schema file; refuse (unless forced) to rewrite one incompatibly."""
    report = GateReport(event_types=len(registry.event_types()))
    _write_envelope(schemas_dir, envelope_schema(envelope), force, report)
    files = committed_files(schemas_dir)
    for key, schema in generated_schemas(registry).items():
        report.checked += 1
        if key in files and not force:
            committed = json.loads(files[key].read_text(encoding="utf-8"))
            problems = changed_version(committed, schema)
            if problems:
                report.problems += [f"{_name(key)}: {p}" for p in problems]
                continue
        write_schema(schemas_dir, key, schema)
    return report


def _envelope_problems(schemas_dir: Path, generated: Mapping[str, Any]) -> list[str]:
    path = schemas_dir / ENVELOPE_FILE
    if not path.is_file():
        return ["envelope: no committed schema (stale: run generate)"]
    try:
        committed = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return [f"envelope: cannot read {path}: {error}"]
    if render(committed) == render(dict(generated)):
        return []
    return [
        "envelope: committed schema is stale (run generate)",
        *(f"envelope: {p}" for p in changed_version(committed, generated)),
    ]


def _write_envelope(
    schemas_dir: Path, generated: dict[str, Any], force: bool, report: GateReport
) -> None:
    # Every reader of every version reads this envelope: it changes compatibly or not at all.
    path = schemas_dir / ENVELOPE_FILE
    if path.is_file() and not force:
        problems = changed_version(json.loads(path.read_text(encoding="utf-8")), generated)
        if problems:
            report.problems += [f"envelope: {p}" for p in problems]
            return
    text = render(generated)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        schemas_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def changed_version(committed: Mapping[str, Any], generated: Mapping[str, Any]) -> list[str]:
    """Why a published version may not change from `committed` to `generated`."""
    found: dict[str, str] = {}
    for problem in removed_properties(committed, generated):
        found.setdefault(problem.path, f"{problem} (readers of this version rely on it)")
    for problem in reader_problems(generated, committed):
        found.setdefault(problem.path, f"{problem} (data already written would be rejected)")
    for problem in reader_problems(committed, generated):
        found.setdefault(problem.path, f"{problem} (existing readers would reject new data)")
    return [f"incompatible change: {message}" for message in found.values()]


def evolution_problems(registry: EventRegistry, writers: Schemas, readers: Schemas) -> list[str]:
    """Why the newest reader of a type may fail on data of an older version (after upcasts)."""
    problems: list[str] = []
    for event_type in registry.event_types():
        versions = registry.versions(event_type)
        newest = versions[-1]
        for version in versions[:-1]:
            shape = version  # the version whose schema the data in hand follows
            for step in range(version, newest):
                if not registry.has_upcaster(event_type, step):
                    continue
                if shape != step:
                    problems += _reading(event_type, step, shape, writers, readers, "the upcaster")
                shape = step + 1
            if shape != newest:
                problems += _reading(event_type, newest, shape, writers, readers, "readers")
    return problems


def _reading(
    event_type: str, reader: int, writer: int, writers: Schemas, readers: Schemas, who: str
) -> list[str]:
    problems: list[Incompatibility] = reader_problems(
        readers[(event_type, reader)], writers[(event_type, writer)]
    )
    where = f"{event_type} v{reader}"
    return [
        f"{where}: {who} of v{reader} cannot read v{writer} data: {problem}"
        + (
            " (register an upcaster from the previous version)"
            if "required" in problem.message
            else ""
        )
        for problem in problems
    ]


def _name(key: SchemaKey) -> str:
    return f"{key[0]} v{key[1]}"
