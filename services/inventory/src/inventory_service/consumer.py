"""Consumed events -> commands: each function runs inside the consumer's transaction."""

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TypeVar

import structlog
from sqlalchemy.orm import Session

from inventory_service import handlers
from inventory_service.db import SqlUnitOfWork
from inventory_service.domain import Line
from inventory_service.metrics import Metrics
from shared_events import Envelope, Event, OrderCancelled, OrderCreated, PaymentProcessed
from shared_events.topics import ORDER_EVENTS, PAYMENT_EVENTS

log = structlog.get_logger(__name__)

E = TypeVar("E", bound=Event)

EventHandler = Callable[[Envelope[Event], Session], None]

TOPICS = (ORDER_EVENTS, PAYMENT_EVENTS)
"""What inventory listens to; `OrderConfirmed`, `PaymentFailed` and the rest need nothing."""


def order_created(envelope: Envelope[Event], session: Session) -> None:
    """Learn the order's items; reserve them if the payment came first."""
    event = _payload(envelope, OrderCreated)
    items = tuple(Line(line.sku, line.quantity) for line in event.items)
    with _bound(envelope):
        order = handlers.record_order(
            handlers.RecordOrder(event.order_id, items), SqlUnitOfWork.riding(session, envelope)
        )
        log.info("order recorded", stock=order.stock, paid=order.paid, cancelled=order.cancelled)


def payment_processed(envelope: Envelope[Event], session: Session) -> None:
    """Learn the order is paid; reserve its items if they are known and it is not cancelled."""
    event = _payload(envelope, PaymentProcessed)
    with _bound(envelope):
        order = handlers.record_payment(
            handlers.RecordPayment(event.order_id), SqlUnitOfWork.riding(session, envelope)
        )
        log.info("payment recorded", stock=order.stock, known=order.items is not None)


def order_cancelled(envelope: Envelope[Event], session: Session) -> None:
    """Mark the order cancelled and release its reservation, if it holds one."""
    event = _payload(envelope, OrderCancelled)
    with _bound(envelope):
        order = handlers.cancel_order(
            handlers.CancelOrder(event.order_id), SqlUnitOfWork.riding(session, envelope)
        )
        log.info("order cancelled", stock=order.stock, reason=str(event.reason))


EVENT_HANDLERS: Mapping[str, EventHandler] = {
    OrderCreated.event_type: order_created,
    PaymentProcessed.event_type: payment_processed,
    OrderCancelled.event_type: order_cancelled,
}


def counted(
    handlers_by_type: Mapping[str, EventHandler], metrics: Metrics
) -> dict[str, EventHandler]:
    """The same handlers, each counting the events it applied (counted after the handler ran)."""

    def wrap(event_type: str, handler: EventHandler) -> EventHandler:
        def handle(envelope: Envelope[Event], session: Session) -> None:
            handler(envelope, session)
            metrics.events_handled.labels(event_type=event_type).inc()

        return handle

    return {event_type: wrap(event_type, h) for event_type, h in handlers_by_type.items()}


def _payload(envelope: Envelope[Event], model: type[E]) -> E:
    payload = envelope.payload
    if not isinstance(payload, model):
        raise TypeError(f"expected {model.__name__}, got {type(payload).__name__}")
    return payload


@contextmanager
def _bound(envelope: Envelope[Event]) -> Iterator[None]:
    with structlog.contextvars.bound_contextvars(
        event_type=envelope.event_type,
        event_id=str(envelope.event_id),
        correlation_id=envelope.correlation_id,
    ):
        yield
