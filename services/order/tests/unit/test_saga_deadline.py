"""The saga deadline: an order still open when it passes is cancelled as timed_out, once."""

from datetime import UTC, datetime, timedelta

import pytest

from order_service import handlers
from order_service.domain import OrderStatus
from order_service.handlers import CancelOrder, PlaceOrder, TimeOutOrders
from shared_events import CancelReason, OrderCancelled

APPLY = {
    "PaymentProcessed": handlers.payments_processed,
    "PaymentFailed": handlers.payments_failed,
    "ItemsReserved": handlers.items_reserved,
}


def deliver(uow, *events):
    for event in events:
        APPLY[event.event_type]([event], uow)


def place(uow, customer="alice", age=timedelta(hours=1)):
    """A PENDING order placed `age` ago."""
    placed = handlers.place_order(PlaceOrder(customer, (("SKU-1", 1),)), uow)
    uow.committed_orders[placed.order_id].created_at -= age
    return uow.committed_orders[placed.order_id]


@pytest.fixture
def order(uow, saga):
    handlers.products_upserted([saga.product_upserted("SKU-1", 500)], uow)
    return place(uow)


def time_out(uow, age=timedelta(minutes=5), limit=100):
    return handlers.time_out_orders(TimeOutOrders(datetime.now(UTC) - age, limit), uow)


def status_of(uow, order):
    stored = uow.order(order.order_id)
    return stored.status, stored.cancel_reason


@pytest.mark.parametrize("paid", [False, True], ids=["pending", "payment_received"])
def test_an_open_order_past_the_deadline_is_cancelled_as_timed_out(uow, saga, order, paid):
    if paid:
        deliver(uow, saga.payment_processed(order.order_id))

    [timed_out] = time_out(uow)

    assert timed_out.order_id == order.order_id
    assert status_of(uow, order) == (OrderStatus.CANCELLED, CancelReason.TIMED_OUT)
    [cancelled] = uow.published("OrderCancelled")
    # Only v2 can say timed_out; payment refunds and inventory releases on any reason.
    assert isinstance(cancelled.payload, OrderCancelled)
    assert cancelled.payload.reason is CancelReason.TIMED_OUT
    assert cancelled.event_version == 2
    assert uow.order(order.order_id).history[-1].event_id == cancelled.event_id


def test_an_order_younger_than_the_deadline_is_left_alone(uow, order):
    assert time_out(uow, age=timedelta(hours=2)) == []
    assert status_of(uow, order) == (OrderStatus.PENDING, None)
    assert uow.published("OrderCancelled") == []


def test_a_confirmed_order_is_never_timed_out(uow, saga, order):
    deliver(uow, saga.payment_processed(order.order_id), saga.items_reserved(order.order_id))

    assert time_out(uow) == []
    assert status_of(uow, order) == (OrderStatus.CONFIRMED, None)
    assert uow.published("OrderCancelled") == []


@pytest.mark.parametrize("how", ["customer", "payment_failed"])
def test_a_cancelled_order_keeps_its_reason(uow, saga, order, how):
    if how == "customer":
        handlers.cancel_order(CancelOrder(order.order_id), uow)
    else:
        deliver(uow, saga.payment_failed(order.order_id))
    before = status_of(uow, order)

    assert time_out(uow) == []
    assert status_of(uow, order) == before
    assert len(uow.published("OrderCancelled")) == 1


def test_timing_out_twice_cancels_once(uow, order):
    assert len(time_out(uow)) == 1
    assert time_out(uow) == []
    assert len(uow.published("OrderCancelled")) == 1


def test_late_saga_events_leave_a_timed_out_order_cancelled(uow, saga, order):
    time_out(uow)

    deliver(uow, saga.payment_processed(order.order_id), saga.items_reserved(order.order_id))

    assert status_of(uow, order) == (OrderStatus.CANCELLED, CancelReason.TIMED_OUT)
    assert uow.published("OrderConfirmed") == []
    assert len(uow.published("OrderCancelled")) == 1


def test_a_customer_cancel_after_the_timeout_is_a_no_op(uow, order):
    time_out(uow)

    handlers.cancel_order(CancelOrder(order.order_id), uow)

    assert status_of(uow, order) == (OrderStatus.CANCELLED, CancelReason.TIMED_OUT)
    assert len(uow.published("OrderCancelled")) == 1


def test_one_call_cancels_at_most_its_limit_oldest_first(uow, order):
    younger = [place(uow, "bob", timedelta(minutes=30 - n)) for n in range(3)]

    first = time_out(uow, limit=2)
    rest = time_out(uow, limit=2)

    assert [o.order_id for o in first] == [order.order_id, younger[0].order_id]
    assert [o.order_id for o in rest] == [younger[1].order_id, younger[2].order_id]
    assert time_out(uow, limit=2) == []
