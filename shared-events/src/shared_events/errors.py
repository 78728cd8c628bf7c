"""Why an event could not be decoded; each error carries a machine-readable `reason`."""

from typing import ClassVar


class DecodeError(Exception):
    """An event could not be decoded; `reason` names the failure for logs and dead letters."""

    reason: ClassVar[str] = "decode_error"


class NotJson(DecodeError):
    """The record value is missing, not JSON, or not a JSON object."""

    reason: ClassVar[str] = "not_json"


class InvalidEnvelope(DecodeError):
    """The envelope fields (id, type, version, time, producer...) are missing or invalid."""

    reason: ClassVar[str] = "invalid_envelope"


class UnknownEventType(DecodeError):
    """No model is registered for the event type."""

    reason: ClassVar[str] = "unknown_event_type"


class UnsupportedEventVersion(DecodeError):
    """The event type is known but this reader has no model for its version."""

    reason: ClassVar[str] = "unsupported_event_version"


class InvalidPayload(DecodeError):
    """The payload does not satisfy the event model (after upcasting)."""

    reason: ClassVar[str] = "invalid_payload"
