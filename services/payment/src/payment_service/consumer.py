"""Consumed events -> set-based handlers, each riding on the consumer's batch transaction.

The EventConsumer owns the transaction (it records the batch's events as processed in it,
writes the outbox rows the handlers staged and commits). `OrderConfirmed` has no handler:
payment has nothing to do once an order is confirmed, so the consumer skips it.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from payment_service import handlers
from payment_service.unit_of_work import SqlUnitOfWork
from shared_events import Envelope, OrderCancelled, OrderCreated
from shared_events.kafka.consuming.inbox import riding
from shared_events.topics import ORDER_EVENTS

TOPICS = (ORDER_EVENTS,)

DISPATCH: Mapping[str, Callable[[Sequence[Envelope[Any]], handlers.UnitOfWork], object]] = {
    OrderCreated.event_type: handlers.orders_created,
    OrderCancelled.event_type: handlers.orders_cancelled,
}
"""Event type -> its set-based handler (the events, a unit of work): what the consumer applies."""

HANDLERS = riding(SqlUnitOfWork.riding, DISPATCH)
