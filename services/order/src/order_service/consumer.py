"""Consumed events -> set-based handlers, each riding on the consumer's batch transaction.

The EventConsumer owns the transaction (it records the batch's events as processed in it,
writes the outbox rows the handlers staged and commits); each handler gets one wave's events
of its type, one per order, and its new events follow them.

The catalog comes from `product-catalog` (compacted: every product's latest record), and from
`inventory-events`, where inventory releases before shared-events 2.4.0 wrote it; the upsert
keeps the newest record of each sku, so the two interleave safely. ProductUpserted skips the
inbox: re-reading `product-catalog` from its start rebuilds the catalog.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from order_service import handlers
from order_service.unit_of_work import SqlUnitOfWork
from shared_events import (
    Envelope,
    InventoryFailed,
    ItemsReleased,
    ItemsReserved,
    PaymentFailed,
    PaymentProcessed,
    PaymentRefunded,
    ProductUpserted,
)
from shared_events.kafka.consuming.inbox import riding
from shared_events.topics import INVENTORY_EVENTS, PAYMENT_EVENTS, PRODUCT_CATALOG

TOPICS = (PAYMENT_EVENTS, INVENTORY_EVENTS, PRODUCT_CATALOG)

REPLAYABLE = frozenset({ProductUpserted.event_type})
"""Applied on every delivery, never recorded in the inbox: an older record never wins."""

DISPATCH: Mapping[str, Callable[[Sequence[Envelope[Any]], handlers.UnitOfWork], object]] = {
    PaymentProcessed.event_type: handlers.payments_processed,
    PaymentFailed.event_type: handlers.payments_failed,
    PaymentRefunded.event_type: handlers.payments_refunded,
    ItemsReserved.event_type: handlers.items_reserved,
    InventoryFailed.event_type: handlers.inventory_failed,
    ItemsReleased.event_type: handlers.items_released,
    ProductUpserted.event_type: handlers.products_upserted,
}
"""Event type -> its set-based handler (the events, a unit of work): what the consumer applies."""

HANDLERS = riding(SqlUnitOfWork.riding, DISPATCH)
