"""Consumed saga events through the handlers: every transition, out of order, redelivered."""

import itertools
from uuid import uuid4

import pytest
from structlog.testing import capture_logs

from order_service import handlers
from order_service.domain import OrderStatus
from order_service.handlers import CancelOrder, PlaceOrder
from shared_events import CancelReason, OrderCancelledV1

APPLY = {
    "PaymentProcessed": handlers.payments_processed,
    "PaymentFailed": handlers.payments_failed,
    "PaymentRefunded": handlers.payments_refunded,
    "ItemsReserved": handlers.items_reserved,
    "InventoryFailed": handlers.inventory_failed,
    "ItemsReleased": handlers.items_released,
}


def deliver(uow, *events):
    for event in events:
        APPLY[event.event_type]([event], uow.riding([event]))


@pytest.fixture
def order(uow, saga):
    handlers.products_upserted([saga.product_upserted("SKU-1", 500)], uow)
    return handlers.place_order(PlaceOrder("alice", (("SKU-1", 2),)), uow)


def status_of(uow, order):
    stored = uow.order(order.order_id)
    return stored.status, stored.cancel_reason


def test_payment_processed_moves_a_pending_order_to_payment_received(uow, saga, order):
    processed = saga.payment_processed(order.order_id)
    deliver(uow, processed)

    assert status_of(uow, order) == (OrderStatus.PAYMENT_RECEIVED, None)
    entry = uow.order(order.order_id).history[-1]
    assert (entry.event_type, entry.event_id, entry.service) == (
        "PaymentProcessed",
        processed.event_id,
        "payment",
    )
    assert entry.occurred_at == processed.occurred_at
    assert uow.published() == uow.published("OrderCreated")


def test_items_reserved_confirms_a_paid_order_and_says_so(uow, saga, order):
    reserved = saga.items_reserved(order.order_id)
    deliver(uow, saga.payment_processed(order.order_id), reserved)

    assert status_of(uow, order) == (OrderStatus.CONFIRMED, None)
    [confirmed] = uow.published("OrderConfirmed")
    assert confirmed.causation_id == reserved.event_id
    assert confirmed.correlation_id == str(order.order_id)
    assert uow.order(order.order_id).history[-1].event_id == confirmed.event_id


def test_items_reserved_before_payment_news_confirms_directly(uow, saga, order):
    deliver(uow, saga.items_reserved(order.order_id), saga.payment_processed(order.order_id))

    assert status_of(uow, order) == (OrderStatus.CONFIRMED, None)
    assert len(uow.published("OrderConfirmed")) == 1
    assert [h.event_type for h in uow.order(order.order_id).history] == [
        "OrderCreated",
        "ItemsReserved",
        "OrderConfirmed",
        "PaymentProcessed",
    ]


def test_payment_failed_cancels_a_pending_order(uow, saga, order):
    failed = saga.payment_failed(order.order_id)
    deliver(uow, failed)

    assert status_of(uow, order) == (OrderStatus.CANCELLED, CancelReason.PAYMENT_FAILED)
    [cancelled] = uow.published("OrderCancelled")
    # v1 still carries this reason: readers on the previous contracts release compensate.
    assert isinstance(cancelled.payload, OrderCancelledV1)
    assert cancelled.payload.reason == CancelReason.PAYMENT_FAILED
    assert cancelled.causation_id == failed.event_id


def test_inventory_failed_cancels_a_paid_order_as_out_of_stock(uow, saga, order):
    deliver(uow, saga.payment_processed(order.order_id), saga.inventory_failed(order.order_id))

    assert status_of(uow, order) == (OrderStatus.CANCELLED, CancelReason.OUT_OF_STOCK)
    [cancelled] = uow.published("OrderCancelled")
    # v1 still carries this reason: readers on the previous contracts release compensate.
    assert isinstance(cancelled.payload, OrderCancelledV1)
    assert cancelled.payload.reason == CancelReason.OUT_OF_STOCK


def test_items_reserved_after_a_customer_cancel_leaves_the_order_cancelled(uow, saga, order):
    handlers.cancel_order(CancelOrder(order.order_id), uow)
    deliver(uow, saga.payment_processed(order.order_id), saga.items_reserved(order.order_id))

    assert status_of(uow, order) == (OrderStatus.CANCELLED, CancelReason.CUSTOMER_CANCELLED)
    assert uow.published("OrderConfirmed") == []
    assert len(uow.published("OrderCancelled")) == 1
    assert len(uow.order(order.order_id).history) == 4


@pytest.mark.parametrize("failure", ["payment_failed", "inventory_failed"])
def test_a_failure_after_confirmation_changes_nothing(uow, saga, order, failure):
    deliver(uow, saga.payment_processed(order.order_id), saga.items_reserved(order.order_id))
    deliver(uow, getattr(saga, failure)(order.order_id))

    assert status_of(uow, order) == (OrderStatus.CONFIRMED, None)
    assert uow.published("OrderCancelled") == []


def test_a_second_failure_does_not_cancel_twice(uow, saga, order):
    deliver(uow, saga.payment_failed(order.order_id), saga.inventory_failed(order.order_id))

    assert status_of(uow, order) == (OrderStatus.CANCELLED, CancelReason.PAYMENT_FAILED)
    assert len(uow.published("OrderCancelled")) == 1


@pytest.mark.parametrize("status", ["confirmed", "cancelled"])
def test_payment_processed_on_a_terminal_order_only_adds_history(uow, saga, order, status):
    if status == "confirmed":
        deliver(uow, saga.items_reserved(order.order_id))
    else:
        handlers.cancel_order(CancelOrder(order.order_id), uow)
    before = status_of(uow, order)
    published = len(uow.outbox)

    deliver(uow, saga.payment_processed(order.order_id))

    assert status_of(uow, order) == before
    assert len(uow.outbox) == published
    assert uow.order(order.order_id).history[-1].event_type == "PaymentProcessed"


def test_compensation_events_only_add_history(uow, saga, order):
    handlers.cancel_order(CancelOrder(order.order_id), uow)
    published = len(uow.outbox)

    deliver(uow, saga.payment_refunded(order.order_id), saga.items_released(order.order_id))

    assert status_of(uow, order) == (OrderStatus.CANCELLED, CancelReason.CUSTOMER_CANCELLED)
    assert len(uow.outbox) == published
    assert [h.event_type for h in uow.order(order.order_id).history][-2:] == [
        "PaymentRefunded",
        "ItemsReleased",
    ]


@pytest.mark.parametrize(
    "builder",
    [
        "payment_processed",
        "payment_failed",
        "payment_refunded",
        "items_reserved",
        "inventory_failed",
        "items_released",
    ],
)
def test_a_redelivered_event_changes_nothing(uow, saga, order, builder):
    event = getattr(saga, builder)(order.order_id)
    deliver(uow, event)
    state, history = status_of(uow, order), uow.order(order.order_id).history
    published = len(uow.outbox)

    deliver(uow, event)

    assert status_of(uow, order) == state
    assert uow.order(order.order_id).history == history
    assert len(uow.outbox) == published


def test_one_call_applies_each_order_s_event_and_skips_unknown_orders(uow, saga, order):
    other = handlers.place_order(PlaceOrder("bob", (("SKU-1", 1),)), uow)
    commits = uow.commits
    events = [saga.items_reserved(order.order_id), saga.items_reserved(uuid4())]
    events.append(saga.items_reserved(other.order_id))

    with capture_logs() as logs:
        handlers.items_reserved(events, uow.riding(events))

    assert uow.commits == commits + 1
    assert status_of(uow, order) == status_of(uow, other) == (OrderStatus.CONFIRMED, None)
    confirmed = uow.published("OrderConfirmed")
    assert [e.causation_id for e in confirmed] == [events[0].event_id, events[2].event_id]
    # Per event, only the skipped one is worth more than a debug line.
    loud = [(e["event"], e["log_level"]) for e in logs if e["log_level"] != "debug"]
    assert loud == [("event_for_unknown_order_ignored", "warning")]


def test_an_event_for_an_unknown_order_is_ignored(uow, saga):
    deliver(uow, saga.payment_processed(uuid4()), saga.items_reserved(uuid4()))

    assert uow.committed_orders == {}
    assert uow.outbox == []


@pytest.mark.parametrize(
    "sequence",
    list(itertools.permutations(["PaymentProcessed", "ItemsReserved", "customer_cancel"])),
)
def test_every_interleaving_with_a_customer_cancel_ends_cancelled_or_confirmed_once(
    uow, saga, order, sequence
):
    for step in sequence:
        if step == "customer_cancel":
            handlers.cancel_order(CancelOrder(order.order_id), uow)
        elif step == "PaymentProcessed":
            deliver(uow, saga.payment_processed(order.order_id))
        else:
            deliver(uow, saga.items_reserved(order.order_id))

    status, reason = status_of(uow, order)
    # The customer's cancel always wins, even over a confirmation (compensation follows).
    assert (status, reason) == (OrderStatus.CANCELLED, CancelReason.CUSTOMER_CANCELLED)
    assert len(uow.published("OrderCancelled")) == 1
    confirmed_before_cancel = sequence.index("ItemsReserved") < sequence.index("customer_cancel")
    assert len(uow.published("OrderConfirmed")) == int(confirmed_before_cancel)
