"""Events of the order bounded context, published on `order-events`."""

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final
from uuid import UUID

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
    TIMED_OUT = "timed_out"  # since OrderCancelled v2: not terminal within the saga deadline


class _V1:
    # The reasons `OrderCancelled` v1 was published with, frozen: readers of v1 reject any
    # other value. Named `CancelReason` here so v1's schema stays exactly as committed.
    class CancelReason(StrEnum):
        """Why an order was cancelled."""

        PAYMENT_FAILED = "payment_failed"
        OUT_OF_STOCK = "out_of_stock"
        CUSTOMER_CANCELLED = "customer_cancelled"


CancelReasonV1 = _V1.CancelReason
"""The cancel reasons `OrderCancelled` v1 can carry (every one of them is a `CancelReason`)."""


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


class OrderCancelledV1(_OrderEvent):
    """The order is cancelled; payment and inventory compensate what they hold."""

    # The title it was published under, so its committed schema stays as it is.
    model_config = ConfigDict(frozen=True, extra="ignore", title="OrderCancelled")

    event_type: ClassVar[str] = "OrderCancelled"
    event_version: ClassVar[int] = 1

    reason: CancelReasonV1


class OrderCancelled(_OrderEvent):
    """The order is cancelled; payment and inventory compensate what they hold."""

    # v2 adds the reason `timed_out`. A v1 payload reads as v2 unchanged (every v1 reason is a
    # v2 reason), so no upcaster is registered; the schema gate checks that v2 reads v1 data.
    event_type: ClassVar[str] = "OrderCancelled"
    event_version: ClassVar[int] = 2

    reason: CancelReason


def order_cancelled(order_id: UUID, reason: CancelReason) -> OrderCancelled | OrderCancelledV1:
    """The `OrderCancelled` to publish: v1 when v1 can say it, v2 only for newer reasons.

    Readers on the previous contracts release (2.0) know v1 only and dead-letter a v2 as an
    unsupported version, so during a rolling upgrade they keep compensating every order but
    a timed-out one (upgrade them first; see the CHANGELOG).
    """
    if reason.value in {old.value for old in CancelReasonV1}:
        return OrderCancelledV1(order_id=order_id, reason=CancelReasonV1(reason.value))
    return OrderCancelled(order_id=order_id, reason=reason)
