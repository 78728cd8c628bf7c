"""Reservations racing for the same stock from many threads, each in its own transaction."""

import random
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID, uuid4

import pytest
from sqlalchemy.orm import Session, sessionmaker

from inventory_service import consumer
from inventory_service.handlers import (
    UpsertProduct,
    get_product,
    list_reservations,
    upsert_product,
)
from inventory_service.unit_of_work import SqlUnitOfWork
from shared_events import (
    Envelope,
    Event,
    OrderCancelled,
    OrderCreated,
    OrderLine,
    PaymentProcessed,
    new_envelope,
)
from shared_events.contracts.orders import CancelReason
from shared_events.kafka.publishing.outbox import write_staged

pytestmark = pytest.mark.integration

THREADS = 16


def _created(order_id: UUID, items: dict[str, int]) -> Envelope[Event]:
    lines = tuple(OrderLine(sku=s, quantity=q, unit_price_cents=1) for s, q in items.items())
    total = sum(q for q in items.values())
    return new_envelope(
        OrderCreated(
            order_id=order_id, customer_id="c", items=lines, total_cents=total, currency="EUR"
        ),
        producer="order",
    )


def _paid(order_id: UUID) -> Envelope[Event]:
    return new_envelope(
        PaymentProcessed(order_id=order_id, payment_id=uuid4(), amount_cents=1), producer="payment"
    )


def _cancelled(order_id: UUID) -> Envelope[Event]:
    return new_envelope(
        OrderCancelled(order_id=order_id, reason=CancelReason.CUSTOMER_CANCELLED),
        producer="order",
    )


def _deliver(sessions: sessionmaker[Session], envelope: Envelope[Event]) -> None:
    # What the EventConsumer does with a batch of one: one transaction, committed by the runner.
    with sessions() as session, session.begin():
        consumer.HANDLERS[envelope.event_type]([envelope], session)
        write_staged(session)


def _put(sql_uow: Callable[[], SqlUnitOfWork], sku: str, quantity: int) -> None:
    upsert_product(UpsertProduct(sku, sku, 1, quantity), sql_uow())


def _levels(sql_uow: Callable[[], SqlUnitOfWork], sku: str) -> tuple[int, int]:
    product = get_product(sku, sql_uow())
    assert product is not None
    return product.available, product.reserved


def _held(sql_uow: Callable[[], SqlUnitOfWork], order_id: UUID) -> Counter[str]:
    held: Counter[str] = Counter()
    for row in list_reservations(order_id, sql_uow()):
        if row.status == "RESERVED":
            held[row.sku] += row.quantity
    return held


def test_fifty_orders_racing_for_ten_units_reserve_exactly_ten(
    sessions: sessionmaker[Session],
    sql_uow: Callable[[], SqlUnitOfWork],
    sku: Callable[[str], str],
) -> None:
    scarce = sku("scarce")
    _put(sql_uow, scarce, 10)
    orders = [uuid4() for _ in range(50)]
    events = [e for o in orders for e in (_created(o, {scarce: 1}), _paid(o))]
    random.Random(7).shuffle(events)  # payments may overtake their OrderCreated

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda e: _deliver(sessions, e), events))

    assert _levels(sql_uow, scarce) == (0, 10)
    holding = [o for o in orders if _held(sql_uow, o)]
    assert len(holding) == 10


def test_orders_locking_skus_in_opposite_orders_neither_deadlock_nor_oversell(
    sessions: sessionmaker[Session],
    sql_uow: Callable[[], SqlUnitOfWork],
    sku: Callable[[str], str],
) -> None:
    a, b = sku("A"), sku("B")
    _put(sql_uow, a, 30)
    _put(sql_uow, b, 30)
    orders = {uuid4(): ({a: 1, b: 2} if i % 2 else {b: 1, a: 2}) for i in range(40)}
    for order_id, items in orders.items():
        _deliver(sessions, _created(order_id, items))

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda o: _deliver(sessions, _paid(o)), orders))

    (a_free, a_held), (b_free, b_held) = _levels(sql_uow, a), _levels(sql_uow, b)
    assert (a_free + a_held, b_free + b_held) == (30, 30)
    assert a_free >= 0 and b_free >= 0
    held = Counter[str]()
    for order_id in orders:
        held.update(_held(sql_uow, order_id))
    assert (held[a], held[b]) == (a_held, b_held)


def test_cancellations_racing_with_reservations_leave_cancelled_orders_holding_nothing(
    sessions: sessionmaker[Session],
    sql_uow: Callable[[], SqlUnitOfWork],
    sku: Callable[[str], str],
) -> None:
    item = sku("A")
    _put(sql_uow, item, 25)
    orders = [uuid4() for _ in range(40)]
    for order_id in orders:
        _deliver(sessions, _created(order_id, {item: 1}))
    cancelled = set(orders[::2])
    events = [_paid(o) for o in orders] + [_cancelled(o) for o in cancelled]
    random.Random(11).shuffle(events)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda e: _deliver(sessions, e), events))

    free, held = _levels(sql_uow, item)
    assert free + held == 25 and free >= 0
    assert all(not _held(sql_uow, o) for o in cancelled)
    assert held == sum(sum(_held(sql_uow, o).values()) for o in orders)
