"""Consumed events -> handlers: each function gets (envelope, session) from the EventConsumer,
which owns the transaction (the processed-event row commits with the handler's effects).
"""

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import structlog
from sqlalchemy.orm import Session

from order_service import handlers
from order_service.db import OutboxWriter, SqlUnitOfWork
from order_service.handlers import UnitOfWork
from shared_events import (
    Envelope,
    Event,
    InventoryFailed,
    ItemsReleased,
    ItemsReserved,
    PaymentFailed,
    PaymentProcessed,
    PaymentRefunded,
    ProductUpserted,
)
from shared_events.topics import INVENTORY_EVENTS, PAYMENT_EVENTS

TOPICS = (PAYMENT_EVENTS, INVENTORY_EVENTS)

E = TypeVar("E", bound=Event)
EventHandler = Callable[[Envelope[Event], Session], None]

_ROUTES: Mapping[type[Event], Callable[[Any, UnitOfWork], object]] = {
    PaymentProcessed: handlers.payment_processed,
    PaymentFailed: handlers.payment_failed,
    PaymentRefunded: handlers.compensated,
    ItemsReserved: handlers.items_reserved,
    InventoryFailed: handlers.inventory_failed,
    ItemsReleased: handlers.compensated,
    ProductUpserted: handlers.product_upserted,
}


def event_handlers(outbox: OutboxWriter) -> dict[str, EventHandler]:
    """The EventConsumer's `handlers`: event type -> function(envelope, session)."""
    return {
        model.event_type: _consume(model, handler, outbox) for model, handler in _ROUTES.items()
    }


def _consume(
    model: type[E],
    handler: Callable[[Envelope[E], UnitOfWork], object],
    outbox: OutboxWriter,
) -> EventHandler:
    def consume(envelope: Envelope[Event], session: Session) -> None:
        if not isinstance(envelope.payload, model):
            raise TypeError(f"{envelope.event_type} carries a {type(envelope.payload).__name__}")
        with structlog.contextvars.bound_contextvars(
            event_type=envelope.event_type,
            event_id=str(envelope.event_id),
            correlation_id=envelope.correlation_id,
        ):
            handler(cast(Envelope[E], envelope), SqlUnitOfWork.riding(session, outbox))

    consume.__name__ = f"consume_{model.event_type}"
    return consume
