"""The consumer's handlers on a real database, inside the batch transaction the runner opens."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from order_service import handlers
from order_service.consumer import HANDLERS
from order_service.domain import OrderStatus
from order_service.handlers import CancelOrder, PlaceOrder
from order_service.tables import outbox, processed_events
from shared_events.kafka.consuming.inbox import apply_batch, apply_once

pytestmark = pytest.mark.integration

CONSUMER = "order-service"


@pytest.fixture
def consume(order_sessions):
    def deliver(envelope) -> bool:
        return apply_once(order_sessions, processed_events, CONSUMER, envelope, HANDLERS)

    return deliver


@pytest.fixture
def order(consume, saga, sql_uow):
    consume(saga.product_upserted("SKU-1", 500))
    return handlers.place_order(PlaceOrder("alice", (("SKU-1", 2),)), sql_uow())


def stored(sql_uow, order):
    with sql_uow() as uow:
        return uow.orders.get(order.order_id)


def state(order):
    return order.status, order.cancel_reason, order.updated_at, order.history


def staged(order_engine):
    with order_engine.connect() as connection:
        rows = connection.execute(select(outbox.c.event_id, outbox.c.headers).order_by(outbox.c.id))
        return [(event_id, dict(headers)) for event_id, headers in rows]


def test_payment_then_reservation_confirms_and_stages_order_confirmed(
    consume, saga, order, sql_uow, order_engine
):
    reserved = saga.items_reserved(order.order_id)
    assert consume(saga.payment_processed(order.order_id))
    assert stored(sql_uow, order).status is OrderStatus.PAYMENT_RECEIVED

    assert consume(reserved)

    now = stored(sql_uow, order)
    assert now.status is OrderStatus.CONFIRMED
    assert [h.event_type for h in now.history] == [
        "OrderCreated",
        "PaymentProcessed",
        "ItemsReserved",
        "OrderConfirmed",
    ]
    [_, (confirmed_id, headers)] = staged(order_engine)
    assert headers["event_type"] == "OrderConfirmed"
    assert headers["correlation_id"] == str(order.order_id)
    assert confirmed_id == now.history[-1].event_id


@pytest.mark.parametrize(
    ("failure", "reason"),
    [("payment_failed", "payment_failed"), ("inventory_failed", "out_of_stock")],
)
def test_a_failure_cancels_and_stages_order_cancelled(
    consume, saga, order, sql_uow, order_engine, failure, reason
):
    consume(getattr(saga, failure)(order.order_id))

    now = stored(sql_uow, order)
    assert (now.status, now.cancel_reason) == (OrderStatus.CANCELLED, reason)
    assert [h["event_type"] for _, h in staged(order_engine)] == ["OrderCreated", "OrderCancelled"]


def test_a_mixed_batch_applies_each_event_in_order_and_once(
    order_sessions, consume, saga, sql_uow, order_engine
):
    consume(saga.product_upserted("SKU-1", 500))
    a, b, c = (
        handlers.place_order(PlaceOrder(customer, (("SKU-1", 1),)), sql_uow())
        for customer in ("alice", "bob", "carol")
    )
    reserved, failed = saga.items_reserved(a.order_id), saga.payment_failed(c.order_id)
    batch = [
        saga.payment_processed(a.order_id),
        saga.payment_processed(b.order_id),
        reserved,
        failed,
    ]

    applied = apply_batch(order_sessions, processed_events, CONSUMER, batch, HANDLERS)

    assert applied == batch
    now = {o.order_id: stored(sql_uow, o) for o in (a, b, c)}
    assert (now[a.order_id].status, now[a.order_id].cancel_reason) == (OrderStatus.CONFIRMED, None)
    assert now[b.order_id].status is OrderStatus.PAYMENT_RECEIVED
    assert (now[c.order_id].status, now[c.order_id].cancel_reason) == (
        OrderStatus.CANCELLED,
        "payment_failed",
    )
    history = {i: [h.event_type for h in o.history] for i, o in now.items()}
    assert history == {
        a.order_id: ["OrderCreated", "PaymentProcessed", "ItemsReserved", "OrderConfirmed"],
        b.order_id: ["OrderCreated", "PaymentProcessed"],
        c.order_id: ["OrderCreated", "PaymentFailed", "OrderCancelled"],
    }
    rows = staged(order_engine)
    follow_ups = {(h["event_type"], h["correlation_id"]): event_id for event_id, h in rows[3:]}
    assert [h["event_type"] for _, h in rows[:3]] == ["OrderCreated"] * 3
    assert follow_ups == {
        ("OrderConfirmed", str(a.order_id)): now[a.order_id].history[-1].event_id,
        ("OrderCancelled", str(c.order_id)): now[c.order_id].history[-1].event_id,
    }

    assert apply_batch(order_sessions, processed_events, CONSUMER, batch, HANDLERS) == []

    again = {o.order_id: stored(sql_uow, o) for o in (a, b, c)}
    assert {i: state(o) for i, o in again.items()} == {i: state(o) for i, o in now.items()}
    assert staged(order_engine) == rows


def test_a_redelivered_event_is_skipped_by_the_inbox(consume, saga, order, sql_uow):
    event = saga.payment_processed(order.order_id)
    assert consume(event) is True

    assert consume(event) is False
    assert len(stored(sql_uow, order).history) == 2


def test_an_event_applied_twice_past_the_inbox_still_changes_nothing(
    order_sessions, saga, order, sql_uow, order_engine
):
    event = saga.items_reserved(order.order_id)
    for _ in range(2):
        with order_sessions.begin() as session:
            HANDLERS["ItemsReserved"]([event], session)

    assert stored(sql_uow, order).status is OrderStatus.CONFIRMED
    assert len(stored(sql_uow, order).history) == 3
    assert len(staged(order_engine)) == 2


def test_a_handler_failure_rolls_back_the_inbox_row_too(
    order_sessions, consume, saga, order, sql_uow
):
    def broken(envelopes, session):
        HANDLERS["PaymentProcessed"](envelopes, session)
        raise RuntimeError("boom")

    event = saga.payment_processed(order.order_id)
    with pytest.raises(RuntimeError):
        apply_once(
            order_sessions,
            processed_events,
            CONSUMER,
            event,
            {**HANDLERS, "PaymentProcessed": broken},
        )

    assert stored(sql_uow, order).status is OrderStatus.PENDING
    assert consume(event) is True


def test_an_older_product_update_does_not_overwrite_the_catalog(consume, saga, sql_uow):
    consume(saga.product_upserted("SKU-7", 300))
    consume(saga.product_upserted("SKU-7", 100, age_s=120))

    with sql_uow() as uow:
        entry = uow.catalog.get("SKU-7")
    assert entry is not None and entry.price_cents == 300


def test_a_customer_cancel_racing_a_reservation_ends_cancelled_with_one_cancel_event(
    consume, saga, sql_uow
):
    consume(saga.product_upserted("SKU-1", 500))
    for _ in range(10):
        order = handlers.place_order(PlaceOrder("alice", (("SKU-1", 1),)), sql_uow())
        start = threading.Barrier(2)

        def cancel(order_id=order.order_id, start=start) -> None:
            start.wait()
            handlers.cancel_order(CancelOrder(order_id), sql_uow())

        def reserve(order_id=order.order_id, start=start) -> None:
            start.wait()
            consume(saga.items_reserved(order_id))

        with ThreadPoolExecutor(2) as pool:
            for future in [pool.submit(cancel), pool.submit(reserve)]:
                future.result()

        now = stored(sql_uow, order)
        assert now.status is OrderStatus.CANCELLED
        types = [h.event_type for h in now.history]
        assert types.count("OrderCancelled") == 1
        # Confirmed only if the reservation won the lock, and then before the cancel.
        if "OrderConfirmed" in types:
            assert types.index("OrderConfirmed") < types.index("OrderCancelled")


def test_concurrent_same_key_orders_at_the_handler_level_make_one_order(
    consume, saga, sql_uow, count_rows
):
    consume(saga.product_upserted("SKU-1", 500))
    start = threading.Barrier(6)

    def attempt(_: int):
        start.wait()
        return handlers.place_order(PlaceOrder("alice", (("SKU-1", 1),), "k-race"), sql_uow())

    with ThreadPoolExecutor(6) as pool:
        orders = list(pool.map(attempt, range(6)))

    assert len({o.order_id for o in orders}) == 1
    assert count_rows("orders") == 1
