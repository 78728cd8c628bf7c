"""Event models by (type, version), with the upcasters that bring old payloads up to date."""

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from shared_events.contracts.event import Event
from shared_events.envelope import Envelope
from shared_events.errors import (
    InvalidEnvelope,
    InvalidPayload,
    NotJson,
    UnknownEventType,
    UnsupportedEventVersion,
)

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns a raw payload of version N into a raw payload of version N + 1."""


class EventRegistry:
    """Which model reads each (event type, version), and how old versions are upcast."""

    def __init__(
        self,
        models: Iterable[type[Event]] = (),
        upcasters: Mapping[tuple[str, int], Upcaster] | None = None,
    ) -> None:
        self._models: dict[str, dict[int, type[Event]]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        for model in models:
            self.register(model)
        for (event_type, from_version), upcaster in (upcasters or {}).items():
            self.register_upcaster(event_type, from_version, upcaster)

    def register(self, model: type[Event]) -> None:
        """Add the model of one (type, version); versions of a type share its topic."""
        versions = self._models.setdefault(model.event_type, {})
        if model.event_version in versions:
            raise ValueError(f"{model.event_type} v{model.event_version} is already registered")
        topics = {other.topic for other in versions.values()}
        if topics and model.topic not in topics:
            raise ValueError(f"{model.event_type} versions disagree on their topic")
        versions[model.event_version] = model

    def register_upcaster(self, event_type: str, from_version: int, upcaster: Upcaster) -> None:
        """Add the function turning a `from_version` payload into a `from_version + 1` one."""
        self._upcasters[(event_type, from_version)] = upcaster

    def event_types(self) -> list[str]:
        """Every registered event type, sorted."""
        return sorted(self._models)

    def versions(self, event_type: str) -> list[int]:
        """The registered versions of an event type, oldest first."""
        return sorted(self._models_of(event_type))

    def model(self, event_type: str, version: int) -> type[Event]:
        """The model of one version of an event type."""
        versions = self._models_of(event_type)
        if version not in versions:
            raise UnsupportedEventVersion(
                f"{event_type} v{version} is not supported (known: {sorted(versions)})"
            )
        return versions[version]

    def latest(self, event_type: str) -> type[Event]:
        """The newest model of an event type: what producers write and decoding returns."""
        versions = self._models_of(event_type)
        return versions[max(versions)]

    def has_upcaster(self, event_type: str, from_version: int) -> bool:
        """Whether a `from_version` payload is upcast (otherwise it is read as it is)."""
        return (event_type, from_version) in self._upcasters

    def upcast(self, event_type: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
        """Bring a raw payload from `version` to the newest version, one step at a time."""
        self.model(event_type, version)
        for step in range(version, self.latest(event_type).event_version):
            upcaster = self._upcasters.get((event_type, step))
            if upcaster is not None:
                payload = upcaster(payload)
        return payload

    def parse_envelope(self, data: object) -> Envelope[Event]:
        """Validate a decoded JSON envelope, upcasting its payload to the newest version."""
        if not isinstance(data, dict):
            raise NotJson(f"expected a JSON object, got {type(data).__name__}")
        event_type, version = data.get("event_type"), data.get("event_version")
        if not isinstance(event_type, str):
            raise InvalidEnvelope(f"event_type must be a string, got {event_type!r}")
        self._models_of(event_type)
        if type(version) is not int:
            raise InvalidEnvelope(f"event_version must be an integer, got {version!r}")
        self.model(event_type, version)
        payload = data.get("payload")
        if not isinstance(payload, dict):
            raise InvalidPayload(f"{event_type} v{version}: payload must be a JSON object")
        model = self.latest(event_type)
        try:
            payload = self.upcast(event_type, version, payload)
        except Exception as error:  # an upcaster choking on bad input means bad input
            raise InvalidPayload(f"{event_type} v{version}: upcasting failed: {error}") from error
        current = {**data, "event_version": model.event_version, "payload": payload}
        try:
            return Envelope[model].model_validate(current)  # type: ignore[valid-type]
        except ValidationError as error:
            raise _classified(error, f"{event_type} v{version}") from error

    def _models_of(self, event_type: str) -> dict[int, type[Event]]:
        if event_type not in self._models:
            raise UnknownEventType(f"unknown event type {event_type!r}")
        return self._models[event_type]


def _classified(error: ValidationError, what: str) -> InvalidPayload | InvalidEnvelope:
    problems = error.errors(include_url=False, include_input=False)
    details = "; ".join(
        f"{'.'.join(str(part) for part in p['loc']) or '<envelope>'}: {p['msg']}" for p in problems
    )
    if all(p["loc"][:1] == ("payload",) for p in problems):
        return InvalidPayload(f"{what}: {details}")
    return InvalidEnvelope(f"{what}: {details}")
