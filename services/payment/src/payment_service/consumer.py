"""Consumed events -> commands: `event_type -> function(envelope, session)` for EventConsumer.

The EventConsumer owns the transaction (it records the event as processed in it and
commits); these functions only ride on its session. `OrderConfirmed` has no handler:
payment has nothing to do once an order is confirmed, so the consumer skips it.
"""

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TypeVar

import structlog
from prometheus_client import Counter
from sqlalchemy.orm import Session

from payment_service.db import SqlUnitOfWork
from payment_service.handlers import CompensateOrder, PayOrder, compensate_order, pay_order
from shared_events import Envelope, Event, OrderCancelled, OrderCreated
from shared_events.topics import ORDER_EVENTS

TOPICS = (ORDER_EVENTS,)

EVENTS_HANDLED = Counter(
    "payment_events_handled_total",
    "Consumed events the payment handlers applied, by outcome (counted before the commit)",
    ["event_type", "outcome"],
)

Handler = Callable[[Envelope[Event], Session], None]
E = TypeVar("E", bound=Event)


def on_order_created(envelope: Envelope[Event], session: Session) -> None:
    """Charge the new order to its customer, or record why that failed."""
    event = _payload(envelope, OrderCreated)
    with _event_context(envelope):
        order = pay_order(
            PayOrder(
                order_id=event.order_id,
                customer_id=event.customer_id,
                amount_cents=event.total_cents,
            ),
            SqlUnitOfWork.joining(session, cause=envelope),
        )
        outcome = "charged" if order.charge else order.failure_reason or "cancelled"
        EVENTS_HANDLED.labels(envelope.event_type, outcome).inc()


def on_order_cancelled(envelope: Envelope[Event], session: Session) -> None:
    """Remember the cancellation and refund the order's charge if there is one."""
    event = _payload(envelope, OrderCancelled)
    with _event_context(envelope):
        order = compensate_order(
            CompensateOrder(order_id=event.order_id),
            SqlUnitOfWork.joining(session, cause=envelope),
        )
        outcome = "refunded" if order.refund else "nothing_to_refund"
        EVENTS_HANDLED.labels(envelope.event_type, outcome).inc()


HANDLERS: Mapping[str, Handler] = {
    OrderCreated.event_type: on_order_created,
    OrderCancelled.event_type: on_order_cancelled,
}


def _payload(envelope: Envelope[Event], model: type[E]) -> E:
    if not isinstance(envelope.payload, model):
        raise TypeError(f"{envelope.event_type} carries a {type(envelope.payload).__name__}")
    return envelope.payload


@contextmanager
def _event_context(envelope: Envelope[Event]) -> Iterator[None]:
    with structlog.contextvars.bound_contextvars(
        event_type=envelope.event_type,
        event_id=str(envelope.event_id),
        correlation_id=envelope.correlation_id,
    ):
        yield
