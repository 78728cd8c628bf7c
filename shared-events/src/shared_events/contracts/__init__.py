"""The event payload models of the saga, one module per bounded context."""

from shared_events.contracts.event import Cents, Event, PositiveCents, Quantity, SagaEvent, Sku
from shared_events.contracts.inventory import (
    InventoryFailed,
    InventoryFailureReason,
    ItemsReleased,
    ItemsReserved,
    ProductUpserted,
    ReservedItem,
)
from shared_events.contracts.orders import (
    DEFAULT_CURRENCY,
    CancelReason,
    CancelReasonV1,
    Currency,
    OrderCancelled,
    OrderCancelledV1,
    OrderConfirmed,
    OrderCreated,
    OrderCreatedV1,
    OrderLine,
    order_cancelled,
    upcast_order_created_v1,
)
from shared_events.contracts.payments import (
    PaymentFailed,
    PaymentFailureReason,
    PaymentProcessed,
    PaymentRefunded,
)

__all__ = [
    "DEFAULT_CURRENCY",
    "CancelReason",
    "CancelReasonV1",
    "Cents",
    "Currency",
    "Event",
    "InventoryFailed",
    "InventoryFailureReason",
    "ItemsReleased",
    "ItemsReserved",
    "OrderCancelled",
    "OrderCancelledV1",
    "OrderConfirmed",
    "OrderCreated",
    "OrderCreatedV1",
    "OrderLine",
    "PaymentFailed",
    "PaymentFailureReason",
    "PaymentProcessed",
    "PaymentRefunded",
    "PositiveCents",
    "ProductUpserted",
    "Quantity",
    "ReservedItem",
    "SagaEvent",
    "Sku",
    "order_cancelled",
    "upcast_order_created_v1",
]
