"""Base classes of every event payload and the value types they share."""

from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt

Cents = Annotated[StrictInt, Field(ge=0)]
"""An amount of money in integer cents, zero allowed."""

PositiveCents = Annotated[StrictInt, Field(gt=0)]
"""An amount of money in integer cents, strictly positive."""

Quantity = Annotated[StrictInt, Field(gt=0)]
"""A number of units of one sku, strictly positive."""

Sku = Annotated[str, Field(min_length=1, max_length=64)]
"""A stock keeping unit, the product identifier chosen by inventory."""


class Event(BaseModel):
    """An immutable fact: frozen, and tolerant of fields added by newer writers."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    event_version: ClassVar[int]
    topic: ClassVar[str]
    former_topics: ClassVar[tuple[str, ...]] = ()
    """Topics earlier releases published this event to: readers keep reading it there too."""
    key_field: ClassVar[str]
    """The payload field whose value is the Kafka record key (the AsyncAPI document says so)."""

    def key(self) -> str:
        """Kafka record key: events with the same key stay in order on one partition."""
        field = getattr(type(self), "key_field", None)
        if field is None:
            raise NotImplementedError(f"{type(self).__name__} does not define its key")
        return str(getattr(self, field))


class SagaEvent(Event):
    """An event of one order's saga, keyed (and correlated) by its order id."""

    # The order id, so one order's events keep their order on a topic.
    key_field: ClassVar[str] = "order_id"

    order_id: UUID
