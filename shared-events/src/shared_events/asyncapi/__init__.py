"""The AsyncAPI 3.0 document of the saga's topics, messages and operations (needs `[kafka]`).

`python -m shared_events.asyncapi generate` writes `shared-events/asyncapi.yaml` from the
contracts (`EVENT_REGISTRY`, `topology.SERVICES`); `... check` fails when the committed file
is stale.
"""

from shared_events.asyncapi.document import (
    ASYNCAPI_VERSION,
    DEAD_LETTER,
    KAFKA_BINDING_VERSION,
    build,
    message_id,
)
from shared_events.asyncapi.files import ASYNCAPI_FILE, render, stale_line

__all__ = [
    "ASYNCAPI_FILE",
    "ASYNCAPI_VERSION",
    "DEAD_LETTER",
    "KAFKA_BINDING_VERSION",
    "build",
    "message_id",
    "render",
    "stale_line",
]
