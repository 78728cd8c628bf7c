"""An order the saga deadline cancelled (reason timed_out) holds no stock, however late
its PaymentProcessed or OrderCreated arrives."""

import itertools
from typing import Any
from uuid import UUID, uuid4

import pytest

from inventory_service import handlers
from shared_events import (
    CancelReason,
    Envelope,
    Event,
    OrderCreated,
    OrderLine,
    PaymentProcessed,
    new_envelope,
    order_cancelled,
)
from shared_events.kafka import decode, encode

FakeUow = Any  # FakeUnitOfWork from tests/conftest.py

APPLY = {
    "OrderCreated": handlers.orders_created,
    "PaymentProcessed": handlers.payments_processed,
    "OrderCancelled": handlers.orders_cancelled,
}


def wire(event: Event) -> Envelope[Event]:
    """As the consumer receives it: encoded by its producer, decoded (upcast) here."""
    record = encode(new_envelope(event, producer="test"))
    return decode(record.value, record.headers)


def saga_events(order_id: UUID) -> dict[str, Envelope[Event]]:
    line = OrderLine(sku="A", quantity=2, unit_price_cents=100)
    created = OrderCreated(
        order_id=order_id, customer_id="c", items=(line,), total_cents=200, currency="EUR"
    )
    paid = PaymentProcessed(order_id=order_id, payment_id=uuid4(), amount_cents=200)
    return {
        "OrderCreated": wire(created),
        "PaymentProcessed": wire(paid),
        "OrderCancelled": wire(order_cancelled(order_id, CancelReason.TIMED_OUT)),
    }


@pytest.fixture
def stocked(fake_uow: FakeUow) -> FakeUow:
    handlers.upsert_product(handlers.UpsertProduct("A", "apple", 100, 5), fake_uow)
    fake_uow.outbox.clear()
    return fake_uow


@pytest.mark.parametrize("arrival", list(itertools.permutations(APPLY)), ids="-".join)
def test_a_timed_out_order_ends_holding_nothing_in_any_arrival_order(
    stocked: FakeUow, arrival: tuple[str, ...]
) -> None:
    order_id = uuid4()
    events = saga_events(order_id)

    for event_type in arrival:
        APPLY[event_type]([events[event_type]], stocked)  # type: ignore[operator]

    assert stocked.stock("A") == (5, 0)
    reserved = arrival[-1] == "OrderCancelled"  # items and payment both known first
    # Reserved before the cancel came: released once; otherwise never reserved at all.
    expected = ["ItemsReserved", "ItemsReleased"] if reserved else []
    assert stocked.published_types() == expected
