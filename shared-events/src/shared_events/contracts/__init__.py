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
    Currency,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderCreatedV1,
    OrderLine,
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
    "Cents",
    "Currency",
    "Event",
    "InventoryFailed",
    "InventoryFailureReason",
    "ItemsReleased",
    "ItemsReserved",
    "OrderCancelled",
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
    "upcast_order_created_v1",
]
