"""The saga deadline on the real database: racing instances, and orders confirmed meanwhile."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select, text, update

from order_service import handlers
from order_service.consumer import HANDLERS
from order_service.deadline import SagaDeadline
from order_service.domain import OrderStatus
from order_service.handlers import PlaceOrder, TimeOutOrders
from order_service.metrics import Metrics
from order_service.tables import orders, outbox
from order_service.unit_of_work import SqlUnitOfWork
from shared_events import CancelReason

pytestmark = pytest.mark.integration


@pytest.fixture
def place(order_sessions, saga, sql_uow):
    with order_sessions.begin() as session:
        HANDLERS["ProductUpserted"]([saga.product_upserted("SKU-1", 500)], session)

    def place_orders(count, *, minutes_ago=10):
        placed = [
            handlers.place_order(PlaceOrder(f"c{n}", (("SKU-1", 1),)), sql_uow()).order_id
            for n in range(count)
        ]
        with order_sessions.begin() as session:
            session.execute(
                update(orders)
                .where(orders.c.order_id.in_(placed))
                .values(created_at=func.now() - text(f"interval '{minutes_ago} minutes'"))
            )
        return placed

    return place_orders


def cancels_staged(order_engine):
    """order id -> OrderCancelled rows in the outbox, with their event versions."""
    with order_engine.connect() as connection:
        rows = connection.execute(select(outbox.c.key, outbox.c.headers))
        found = [(key.decode(), dict(headers)) for key, headers in rows]
    return Counter(
        (key, headers["event_version"])
        for key, headers in found
        if headers["event_type"] == "OrderCancelled"
    )


def statuses(sql_uow, order_ids):
    with sql_uow() as uow:
        found = uow.orders.get_many(order_ids)
    return Counter((o.status, o.cancel_reason) for o in found.values())


def test_two_instances_racing_cancel_each_overdue_order_exactly_once(
    place, order_sessions, sql_uow, order_engine
):
    overdue = place(60)
    fresh = place(3, minutes_ago=0)
    registry = CollectorRegistry()
    Metrics(registry).count_sagas_ended(order_sessions)
    deadlines = [
        SagaDeadline(lambda: SqlUnitOfWork(order_sessions), deadline_s=300, every_s=1, batch_max=7)
        for _ in range(2)
    ]
    start = threading.Barrier(len(deadlines))

    def sweep(deadline):
        start.wait()
        return deadline.sweep()

    with ThreadPoolExecutor(len(deadlines)) as pool:
        counts = list(pool.map(sweep, deadlines))

    assert sum(counts) == len(overdue)
    assert statuses(sql_uow, overdue) == {
        (OrderStatus.CANCELLED, CancelReason.TIMED_OUT): len(overdue)
    }
    assert statuses(sql_uow, fresh) == {(OrderStatus.PENDING, None): len(fresh)}
    assert cancels_staged(order_engine) == {(str(order_id), "2"): 1 for order_id in overdue}
    value = registry.get_sample_value("saga_timed_out_total", {"service": "order"})
    assert value == len(overdue)
    assert all(d.sweep() == 0 for d in deadlines)


def test_an_order_locked_by_a_confirmation_is_skipped_and_stays_confirmed(
    place, order_sessions, sql_uow, order_engine, saga
):
    [order_id] = place(1)
    deadline = SagaDeadline(lambda: SqlUnitOfWork(order_sessions), deadline_s=300, every_s=1)
    pool = ThreadPoolExecutor(1)
    try:
        with order_sessions.begin() as consumer_batch:
            # The consumer's batch holds the order's row lock while it confirms it ...
            HANDLERS["PaymentProcessed"]([saga.payment_processed(order_id)], consumer_batch)
            HANDLERS["ItemsReserved"]([saga.items_reserved(order_id)], consumer_batch)
            # ... so the deadline skips it instead of waiting for it,
            skipped = pool.submit(deadline.sweep).result(timeout=10)
    finally:
        pool.shutdown()  # (a sweep that waited for the lock instead ends once it is gone)

    assert skipped == 0
    # ... and finds it confirmed once the batch committed.
    assert deadline.sweep() == 0
    assert statuses(sql_uow, [order_id]) == {(OrderStatus.CONFIRMED, None): 1}
    assert cancels_staged(order_engine) == {}


class HeldUnitOfWork(SqlUnitOfWork):
    """Commits only once `release` is set, holding its row locks until then."""

    def __init__(self, *args, claimed, release, **kwargs):
        super().__init__(*args, **kwargs)
        self.claimed, self.release = claimed, release

    def commit(self):
        self.claimed.set()
        assert self.release.wait(10)
        super().commit()


def test_a_reservation_arriving_while_the_deadline_cancels_confirms_nothing(
    place, order_sessions, sql_uow, order_engine, saga
):
    [order_id] = place(1)
    claimed, release = threading.Event(), threading.Event()
    uow = HeldUnitOfWork(order_sessions, claimed=claimed, release=release)

    def confirm():
        with order_sessions.begin() as consumer_batch:
            HANDLERS["ItemsReserved"]([saga.items_reserved(order_id)], consumer_batch)

    with ThreadPoolExecutor(2) as pool:
        timing_out = pool.submit(
            handlers.time_out_orders, TimeOutOrders(_minutes_ago(order_engine, 5), 10), uow
        )
        assert claimed.wait(10)
        confirming = pool.submit(confirm)  # waits for the row lock the deadline holds
        assert not _done_within(confirming, 0.5)
        release.set()
        assert [o.order_id for o in timing_out.result(timeout=10)] == [order_id]
        confirming.result(timeout=10)

    assert statuses(sql_uow, [order_id]) == {(OrderStatus.CANCELLED, CancelReason.TIMED_OUT): 1}
    with order_engine.connect() as connection:
        types = [dict(h)["event_type"] for (h,) in connection.execute(select(outbox.c.headers))]
    assert "OrderConfirmed" not in types and types.count("OrderCancelled") == 1


def _minutes_ago(order_engine, minutes):
    with order_engine.connect() as connection:
        return connection.execute(
            select(func.now() - text(f"interval '{minutes} minutes'"))
        ).scalar_one()


def _done_within(future, seconds):
    try:
        future.result(timeout=seconds)
    except TimeoutError:
        return False
    return True
