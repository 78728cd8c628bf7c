"""Consumed events -> set-based handlers, each riding on the consumer's batch transaction.

`OrderConfirmed`, `PaymentFailed` and the other events need nothing from inventory, so the
consumer skips them.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from inventory_service import handlers
from inventory_service.unit_of_work import SqlUnitOfWork
from shared_events import Envelope, OrderCancelled, OrderCreated, PaymentProcessed
from shared_events.kafka.consuming.inbox import riding
from shared_events.topics import ORDER_EVENTS, PAYMENT_EVENTS

TOPICS = (ORDER_EVENTS, PAYMENT_EVENTS)

DISPATCH: Mapping[str, Callable[[Sequence[Envelope[Any]], handlers.UnitOfWork], object]] = {
    OrderCreated.event_type: handlers.orders_created,
    PaymentProcessed.event_type: handlers.payments_processed,
    OrderCancelled.event_type: handlers.orders_cancelled,
}
"""Event type -> its set-based handler (the events, a unit of work): what the consumer applies."""

HANDLERS = riding(SqlUnitOfWork.riding, DISPATCH)
