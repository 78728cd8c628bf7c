"""The registry of every published event version of the saga, and their upcasters."""

from typing import Final

from shared_events.contracts.inventory import (
    InventoryFailed,
    ItemsReleased,
    ItemsReserved,
    ProductUpserted,
)
from shared_events.contracts.orders import (
    OrderCancelled,
    OrderCancelledV1,
    OrderConfirmed,
    OrderCreated,
    OrderCreatedV1,
    upcast_order_created_v1,
)
from shared_events.contracts.payments import PaymentFailed, PaymentProcessed, PaymentRefunded
from shared_events.registry import EventRegistry

EVENT_REGISTRY: Final = EventRegistry(
    models=[
        OrderCreatedV1,
        OrderCreated,
        OrderConfirmed,
        OrderCancelledV1,
        OrderCancelled,
        PaymentProcessed,
        PaymentFailed,
        PaymentRefunded,
        ItemsReserved,
        InventoryFailed,
        ItemsReleased,
        ProductUpserted,
    ],
    # OrderCancelled v1 needs no upcaster: v2 reads a v1 payload as it is.
    upcasters={("OrderCreated", 1): upcast_order_created_v1},
)
"""Every event version the saga has published; decoding returns the newest of each type."""
