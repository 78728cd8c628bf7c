"""Events of the order bounded context, published on `order-events`."""

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final

from pydantic import BaseModel, ConfigDict, Field

from shared_events.contracts.event import PositiveCents, Quantity, SagaEvent, Sku
from shared_events.topics import ORDER_EVENTS

DEFAULT_CURRENCY: Final = "EUR"
"""Currency of every amount written before `OrderCreated` v2 carried one (ISO 4217)."""

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 alphabetic currency code such as `EUR` or `USD`."""


class CancelReason(StrEnum):
    """Why an order was cancelled."""

    PAYMENT_FAILED = "payment_failed"
    OUT_OF_STOCK = "out_of_stock"
    CUSTOMER_CANCELLED = "customer_cancelled"


class OrderLine(BaseModel):
    """One line of an order: a sku, how many, and the unit price at ordering time."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: Sku
    quantity: Quantity
    unit_price_cents: PositiveCents


class _OrderEvent(SagaEvent):
    topic: ClassVar[str] = ORDER_EVENTS


class OrderCreatedV1(_OrderEvent):
    """v1 of `OrderCreated`, without a currency; decoded by upcasting to v2."""

    event_type: ClassVar[str] = "OrderCreated"
    event_version: ClassVar[int] = 1

    customer_id: Annotated[str, Field(min_length=1)]
    items: Annotated[tuple[OrderLine, ...], Field(min_length=1)]
    total_cents: PositiveCents


class OrderCreated(_OrderEvent):
    """A customer placed an order, priced from the order service's catalog."""

    event_type: ClassVar[str] = "OrderCreated"
    event_version: ClassVar[int] = 2

    customer_id: Annotated[str, Field(min_length=1)]
    items: Annotated[tuple[OrderLine, ...], Field(min_length=1)]
    total_cents: PositiveCents
    currency: Currency


def upcast_order_created_v1(payload: dict[str, Any]) -> dict[str, Any]:
    """Turn an `OrderCreated` v1 payload into v2: v1 amounts are in the default currency."""
    return {**payload, "currency": DEFAULT_CURRENCY}


class OrderConfirmed(_OrderEvent):
    """Payment and stock are secured: the order is confirmed."""

    event_type: ClassVar[str] = "OrderConfirmed"
    event_version: ClassVar[int] = 1


class OrderCancelled(_OrderEvent):
    """The order is cancelled; payment and inventory compensate what they hold."""

    event_type: ClassVar[str] = "OrderCancelled"
    event_version: ClassVar[int] = 1

    reason: CancelReason
