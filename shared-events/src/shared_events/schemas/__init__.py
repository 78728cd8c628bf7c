"""JSON Schemas of every published event version, and the gate keeping changes compatible.

Run `python -m shared_events.schemas generate` to write them, `... check` in CI.
"""

from shared_events.schemas.compatibility import (
    Incompatibility,
    reader_problems,
    removed_properties,
    resolve,
)
from shared_events.schemas.files import SCHEMAS_DIR, generated_schemas, render, schema_of
from shared_events.schemas.gate import (
    GateReport,
    changed_version,
    check,
    evolution_problems,
    generate,
)

__all__ = [
    "SCHEMAS_DIR",
    "GateReport",
    "Incompatibility",
    "changed_version",
    "check",
    "evolution_problems",
    "generate",
    "generated_schemas",
    "reader_problems",
    "removed_properties",
    "render",
    "resolve",
    "schema_of",
]
