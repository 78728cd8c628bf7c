"""The envelope every event travels in: identity, time, provenance, and the payload."""

from datetime import UTC, datetime
from importlib.metadata import version
from typing import Annotated, Final, Generic, Self, TypeVar
from uuid import UUID, uuid4

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    StrictInt,
    field_validator,
    model_validator,
)

from shared_events.contracts.event import Event

CONTRACTS_VERSION: Final = version("shared-events")
"""Version of this package; producers stamp it on every envelope they write."""

P = TypeVar("P", bound=Event, covariant=True)
E = TypeVar("E", bound=Event)


class Producer(BaseModel):
    """Who wrote an event: the service, and the contracts version it was built with."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    service: Annotated[str, Field(min_length=1)]
    # A factory, not a default: the envelope's published JSON Schema would change every release.
    contracts_version: Annotated[str, Field(min_length=1)] = Field(
        default_factory=lambda: CONTRACTS_VERSION
    )


class Envelope(BaseModel, Generic[P]):
    """An immutable event: metadata plus a payload typed as its event model."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: UUID
    event_type: Annotated[str, Field(min_length=1)]
    event_version: Annotated[StrictInt, Field(ge=1)]
    occurred_at: AwareDatetime
    producer: Producer
    correlation_id: Annotated[str, Field(min_length=1)]
    causation_id: UUID | None = None
    payload: SerializeAsAny[P]

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _payload_matches_type(self) -> Self:
        model = type(self.payload)
        expected = (getattr(model, "event_type", None), getattr(model, "event_version", None))
        if expected[0] is None:
            raise ValueError(f"payload {model.__name__} is not a concrete event model")
        if (self.event_type, self.event_version) != expected:
            raise ValueError(
                f"envelope says {self.event_type} v{self.event_version} "
                f"but the payload is {expected[0]} v{expected[1]}"
            )
        return self


def new_envelope(
    payload: E,
    *,
    producer: str,
    correlation_id: str | None = None,
    causation_id: UUID | None = None,
    event_id: UUID | None = None,
    occurred_at: datetime | None = None,
) -> Envelope[E]:
    """Wrap a payload in a fresh envelope; the correlation id defaults to the event's key."""
    return Envelope[E](
        event_id=event_id or uuid4(),
        event_type=payload.event_type,
        event_version=payload.event_version,
        occurred_at=occurred_at or datetime.now(UTC),
        producer=Producer(service=producer),
        correlation_id=correlation_id or payload.key(),
        causation_id=causation_id,
        payload=payload,
    )


def follow_up(cause: Envelope[Event], payload: E, *, producer: str) -> Envelope[E]:
    """Wrap a payload caused by another event: same correlation id, causation = its id."""
    return new_envelope(
        payload,
        producer=producer,
        correlation_id=cause.correlation_id,
        causation_id=cause.event_id,
    )
