"""Placing and cancelling orders through the handlers, with a fake unit of work."""

from uuid import uuid4

import pytest

from order_service import handlers
from order_service.domain import IdempotencyRecord, OrderStatus, UnknownSkus
from order_service.handlers import CancelOrder, IdempotencyKeyReused, PlaceOrder
from shared_events import DEFAULT_CURRENCY, CancelReason, OrderCancelledV1, OrderCreated


@pytest.fixture
def stocked(uow, saga):
    handlers.products_upserted([saga.product_upserted("SKU-1", 250, name="Mug")], uow)
    handlers.products_upserted([saga.product_upserted("SKU-2", 1000, name="Lamp")], uow)
    return uow


def place(uow, *items, key=None, customer="alice"):
    return handlers.place_order(PlaceOrder(customer, tuple(items), key), uow)


def test_placed_order_is_pending_and_priced_from_the_local_catalog(stocked):
    order = place(stocked, ("SKU-1", 2), ("SKU-2", 1))

    stored = stocked.order(order.order_id)
    assert stored.status is OrderStatus.PENDING
    assert [(i.sku, i.quantity, i.unit_price_cents) for i in stored.items] == [
        ("SKU-1", 2, 250),
        ("SKU-2", 1, 1000),
    ]
    assert stored.total_cents == 1500
    assert stored.currency == DEFAULT_CURRENCY


def test_placing_an_order_emits_order_created_v2_with_currency(stocked):
    order = place(stocked, ("SKU-1", 2))

    [created] = stocked.published("OrderCreated")
    assert isinstance(created.payload, OrderCreated)
    assert created.event_version == 2
    assert created.payload.currency == DEFAULT_CURRENCY
    assert created.payload.total_cents == 500
    assert created.correlation_id == str(order.order_id)
    assert [
        (h.event_type, h.event_id, h.service) for h in stocked.order(order.order_id).history
    ] == [("OrderCreated", created.event_id, "order")]


def test_a_sku_given_twice_is_merged_into_one_line(stocked):
    order = place(stocked, ("SKU-1", 2), ("SKU-2", 1), ("SKU-1", 3))

    assert [(i.sku, i.quantity) for i in order.items] == [("SKU-1", 5), ("SKU-2", 1)]
    assert order.total_cents == 5 * 250 + 1000


def test_unknown_sku_is_rejected_with_its_position_and_nothing_is_stored(stocked):
    with pytest.raises(UnknownSkus) as rejected:
        place(stocked, ("SKU-1", 1), ("NOPE", 1), ("ALSO-NOPE", 2), key="k-1")

    assert rejected.value.positions == {1: "NOPE", 2: "ALSO-NOPE"}
    assert stocked.committed_orders == {}
    assert stocked.committed_keys == {}
    assert stocked.published("OrderCreated") == []


def test_same_idempotency_key_and_body_returns_the_same_order_once(stocked):
    first = place(stocked, ("SKU-1", 1), key="k-1")
    again = place(stocked, ("SKU-1", 1), key="k-1")

    assert again.order_id == first.order_id
    assert len(stocked.committed_orders) == 1
    assert len(stocked.published("OrderCreated")) == 1


def test_same_idempotency_key_with_another_body_is_refused(stocked):
    place(stocked, ("SKU-1", 1), key="k-1")

    with pytest.raises(IdempotencyKeyReused):
        place(stocked, ("SKU-1", 2), key="k-1")
    with pytest.raises(IdempotencyKeyReused):
        place(stocked, ("SKU-1", 1), key="k-1", customer="bob")
    assert len(stocked.committed_orders) == 1


def test_same_idempotency_key_with_the_items_in_another_order_returns_the_same_order(stocked):
    first = place(stocked, ("SKU-1", 2), ("SKU-2", 1), key="k-1")
    reordered = place(stocked, ("SKU-2", 1), ("SKU-1", 2), key="k-1")
    split = place(stocked, ("SKU-1", 1), ("SKU-2", 1), ("SKU-1", 1), key="k-1")

    assert reordered.order_id == split.order_id == first.order_id
    assert [(i.sku, i.quantity) for i in reordered.items] == [("SKU-1", 2), ("SKU-2", 1)]
    assert len(stocked.committed_orders) == 1
    assert len(stocked.published("OrderCreated")) == 1


def test_same_idempotency_key_with_other_items_in_any_order_is_refused(stocked):
    place(stocked, ("SKU-1", 2), ("SKU-2", 1), key="k-1")

    for items in [
        (("SKU-2", 2), ("SKU-1", 1)),  # the quantities swapped
        (("SKU-2", 1),),
        (("SKU-2", 1), ("SKU-1", 2), ("SKU-1", 1)),
    ]:
        with pytest.raises(IdempotencyKeyReused):
            place(stocked, *items, key="k-1")
    assert len(stocked.committed_orders) == 1


def test_the_fingerprint_ignores_item_order_and_the_as_given_one_is_unchanged():
    given = PlaceOrder("alice", (("SKU-2", 1), ("SKU-1", 2)), "k-1")
    sorted_ = PlaceOrder("alice", (("SKU-1", 2), ("SKU-2", 1)), "k-1")

    assert given.fingerprint() == sorted_.fingerprint()
    assert given.fingerprint() != PlaceOrder("bob", sorted_.items).fingerprint()
    # What the service stored for this request before fingerprints ignored item order.
    assert given.fingerprint_as_given() == (
        "561d389d2b918ebf14e635b5aec7b9e313d369818e2ac081549d42521a43acd0"
    )
    # For lines already in order, both fingerprints are one.
    assert sorted_.fingerprint_as_given() == sorted_.fingerprint()


def test_a_key_stored_with_the_as_given_fingerprint_still_replays_its_retry(stocked):
    """A request in flight across the release: its key was claimed by the previous version."""
    items = (("SKU-2", 1), ("SKU-1", 2))
    first = place(stocked, *items, key="k-1")
    claimed = stocked.committed_keys["k-1"]
    stocked.committed_keys["k-1"] = IdempotencyRecord(
        "k-1", PlaceOrder("alice", items).fingerprint_as_given(), claimed.order_id
    )

    assert place(stocked, *items, key="k-1").order_id == first.order_id
    with pytest.raises(IdempotencyKeyReused):
        place(stocked, ("SKU-2", 1), ("SKU-1", 3), key="k-1")
    assert len(stocked.committed_orders) == 1


def test_a_key_refused_for_an_unknown_sku_can_be_used_once_the_sku_is_known(stocked, saga):
    with pytest.raises(UnknownSkus):
        place(stocked, ("SKU-3", 1), key="k-1")
    handlers.products_upserted([saga.product_upserted("SKU-3", 99)], stocked)

    order = place(stocked, ("SKU-3", 1), key="k-1")

    assert stocked.committed_keys["k-1"].order_id == order.order_id


def test_without_a_key_each_request_places_a_new_order(stocked):
    place(stocked, ("SKU-1", 1))
    place(stocked, ("SKU-1", 1))

    assert len(stocked.committed_orders) == 2


@pytest.mark.parametrize("status", [OrderStatus.PENDING, OrderStatus.PAYMENT_RECEIVED])
def test_customer_cancels_a_live_order(stocked, saga, status):
    order = place(stocked, ("SKU-1", 1))
    if status is OrderStatus.PAYMENT_RECEIVED:
        handlers.payments_processed([saga.payment_processed(order.order_id)], stocked)

    handlers.cancel_order(CancelOrder(order.order_id), stocked)

    stored = stocked.order(order.order_id)
    assert (stored.status, stored.cancel_reason) == (
        OrderStatus.CANCELLED,
        CancelReason.CUSTOMER_CANCELLED,
    )
    [cancelled] = stocked.published("OrderCancelled")
    # v1 still carries this reason: readers on the previous contracts release compensate.
    assert isinstance(cancelled.payload, OrderCancelledV1)
    assert cancelled.payload.reason == CancelReason.CUSTOMER_CANCELLED
    assert stored.history[-1].event_id == cancelled.event_id


def test_customer_cancel_of_a_confirmed_order_triggers_compensation(stocked, saga):
    order = place(stocked, ("SKU-1", 1))
    handlers.payments_processed([saga.payment_processed(order.order_id)], stocked)
    handlers.items_reserved([saga.items_reserved(order.order_id)], stocked)

    handlers.cancel_order(CancelOrder(order.order_id), stocked)

    assert stocked.order(order.order_id).status is OrderStatus.CANCELLED
    assert len(stocked.published("OrderCancelled")) == 1


def test_cancelling_a_cancelled_order_is_a_no_op(stocked):
    order = place(stocked, ("SKU-1", 1))
    handlers.cancel_order(CancelOrder(order.order_id), stocked)

    again = handlers.cancel_order(CancelOrder(order.order_id), stocked)

    assert again is not None and again.status is OrderStatus.CANCELLED
    assert len(stocked.published("OrderCancelled")) == 1
    assert len(stocked.order(order.order_id).history) == 2


def test_cancelling_a_payment_failed_order_keeps_its_reason(stocked, saga):
    order = place(stocked, ("SKU-1", 1))
    handlers.payments_failed([saga.payment_failed(order.order_id)], stocked)

    handlers.cancel_order(CancelOrder(order.order_id), stocked)

    assert stocked.order(order.order_id).cancel_reason is CancelReason.PAYMENT_FAILED
    assert len(stocked.published("OrderCancelled")) == 1


def test_cancelling_an_unknown_order_finds_nothing(uow):
    assert handlers.cancel_order(CancelOrder(uuid4()), uow) is None
    assert uow.outbox == []
