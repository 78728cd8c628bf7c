"""JSON Schemas of the envelope and every published event version, and the gate keeping
changes compatible.

Run `python -m shared_events.schemas generate` to write them, `... check` in CI.
"""

from shared_events.schemas.compatibility import (
    Incompatibility,
    reader_problems,
    removed_properties,
    resolve,
)
from shared_events.schemas.files import (
    ENVELOPE_FILE,
    SCHEMAS_DIR,
    envelope_schema,
    generated_schemas,
    render,
    schema_of,
)
from shared_events.schemas.gate import (
    GateReport,
    changed_version,
    check,
    evolution_problems,
    generate,
)

__all__ = [
    "ENVELOPE_FILE",
    "SCHEMAS_DIR",
    "GateReport",
    "Incompatibility",
    "changed_version",
    "check",
    "envelope_schema",
    "evolution_problems",
    "generate",
    "generated_schemas",
    "reader_problems",
    "removed_properties",
    "render",
    "resolve",
    "schema_of",
]
