"""The consumer functions on the real database, through the binding's exactly-once runner."""

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from inventory_service import consumer
from inventory_service.handlers import UpsertProduct, get_product, list_reservations, upsert_product
from inventory_service.tables import processed_events
from inventory_service.unit_of_work import SqlUnitOfWork
from shared_events import (
    Envelope,
    Event,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderLine,
    PaymentProcessed,
    new_envelope,
)
from shared_events.contracts.orders import CancelReason
from shared_events.kafka.consuming.inbox import apply_batch, apply_once

pytestmark = pytest.mark.integration

GROUP = "inventory-service-test"


class Saga:
    """Builds one order's events and feeds them to the consumer functions exactly once."""

    def __init__(self, sessions: sessionmaker[Session], items: dict[str, int]) -> None:
        self.sessions = sessions
        self.order_id = uuid4()
        self.items = items

    def created(self) -> Envelope[Event]:
        lines = tuple(
            OrderLine(sku=sku, quantity=q, unit_price_cents=100) for sku, q in self.items.items()
        )
        total = sum(line.quantity * 100 for line in lines)
        event = OrderCreated(
            order_id=self.order_id,
            customer_id="c-1",
            items=lines,
            total_cents=total,
            currency="EUR",
        )
        return new_envelope(event, producer="order")

    def paid(self) -> Envelope[Event]:
        event = PaymentProcessed(order_id=self.order_id, payment_id=uuid4(), amount_cents=100)
        return new_envelope(event, producer="payment")

    def cancelled(self) -> Envelope[Event]:
        event = OrderCancelled(order_id=self.order_id, reason=CancelReason.CUSTOMER_CANCELLED)
        return new_envelope(event, producer="order")

    def deliver(self, envelope: Envelope[Event]) -> bool:
        """Apply once, as the EventConsumer does; False when it was a redelivery."""
        return apply_once(self.sessions, processed_events, GROUP, envelope, consumer.HANDLERS)


@pytest.fixture
def stock(
    sql_uow: Callable[[], SqlUnitOfWork], sku: Callable[[str], str]
) -> Callable[[str, int], str]:
    def put(name: str, quantity: int) -> str:
        unique = sku(name)
        upsert_product(UpsertProduct(unique, name, 100, quantity), sql_uow())
        return unique

    return put


def _levels(sql_uow: Callable[[], SqlUnitOfWork], sku: str) -> tuple[int, int]:
    product = get_product(sku, sql_uow())
    assert product is not None
    return product.available, product.reserved


def _held(sql_uow: Callable[[], SqlUnitOfWork], order_id: UUID) -> dict[str, int]:
    rows = list_reservations(order_id, sql_uow())
    return {r.sku: r.quantity for r in rows if r.status == "RESERVED"}


def test_paid_order_reserves_and_stages_items_reserved_following_the_payment(
    sessions: sessionmaker[Session],
    sql_uow: Callable[[], SqlUnitOfWork],
    stock: Callable[[str, int], str],
    engine: Engine,
    staged: Any,
) -> None:
    a, b = stock("A", 5), stock("B", 1)
    saga = Saga(sessions, {b: 1, a: 2})
    payment = saga.paid()

    saga.deliver(saga.created())
    saga.deliver(payment)

    assert (_levels(sql_uow, a), _levels(sql_uow, b)) == ((3, 2), (0, 1))
    assert _held(sql_uow, saga.order_id) == {a: 2, b: 1}
    [event] = staged(engine, str(saga.order_id))
    assert event.event_type == "ItemsReserved"
    assert (event.causation_id, event.correlation_id) == (payment.event_id, str(saga.order_id))


def test_payment_before_order_created_reserves_when_the_items_arrive(
    sessions: sessionmaker[Session],
    sql_uow: Callable[[], SqlUnitOfWork],
    stock: Callable[[str, int], str],
    engine: Engine,
    staged: Any,
) -> None:
    a = stock("A", 5)
    saga = Saga(sessions, {a: 5})
    created = saga.created()

    saga.deliver(saga.paid())
    assert staged(engine, str(saga.order_id)) == []
    saga.deliver(created)

    assert _levels(sql_uow, a) == (0, 5)
    [event] = staged(engine, str(saga.order_id))
    assert (event.event_type, event.causation_id) == ("ItemsReserved", created.event_id)


def test_a_redelivered_payment_changes_nothing(
    sessions: sessionmaker[Session],
    sql_uow: Callable[[], SqlUnitOfWork],
    stock: Callable[[str, int], str],
) -> None:
    a = stock("A", 5)
    saga = Saga(sessions, {a: 2})
    payment = saga.paid()
    saga.deliver(saga.created())

    assert saga.deliver(payment) is True
    assert saga.deliver(payment) is False
    assert saga.deliver(saga.paid()) is True  # another PaymentProcessed of the same order

    assert _levels(sql_uow, a) == (3, 2)


def test_cancelled_order_releases_stock_once(
    sessions: sessionmaker[Session],
    sql_uow: Callable[[], SqlUnitOfWork],
    stock: Callable[[str, int], str],
    engine: Engine,
    staged: Any,
) -> None:
    a = stock("A", 4)
    saga = Saga(sessions, {a: 3})
    for envelope in (saga.created(), saga.paid(), saga.cancelled(), saga.cancelled()):
        saga.deliver(envelope)

    assert _levels(sql_uow, a) == (4, 0)
    assert _held(sql_uow, saga.order_id) == {}
    assert {r.status for r in list_reservations(saga.order_id, sql_uow())} == {"RELEASED"}
    types = [e.event_type for e in staged(engine, str(saga.order_id))]
    assert types == ["ItemsReserved", "ItemsReleased"]


def test_cancel_before_payment_means_the_late_payment_reserves_nothing(
    sessions: sessionmaker[Session],
    sql_uow: Callable[[], SqlUnitOfWork],
    stock: Callable[[str, int], str],
    engine: Engine,
    staged: Any,
) -> None:
    a = stock("A", 3)
    saga = Saga(sessions, {a: 2})
    for envelope in (saga.created(), saga.cancelled(), saga.paid()):
        saga.deliver(envelope)

    assert _levels(sql_uow, a) == (3, 0)
    assert list_reservations(saga.order_id, sql_uow()) == []
    assert staged(engine, str(saga.order_id)) == []


def test_short_stock_reserves_nothing_and_stages_inventory_failed(
    sessions: sessionmaker[Session],
    sql_uow: Callable[[], SqlUnitOfWork],
    stock: Callable[[str, int], str],
    engine: Engine,
    staged: Any,
) -> None:
    plenty, scarce = stock("P", 100), stock("S", 1)
    saga = Saga(sessions, {plenty: 1, scarce: 2})
    saga.deliver(saga.paid())
    saga.deliver(saga.created())

    assert (_levels(sql_uow, plenty), _levels(sql_uow, scarce)) == ((100, 0), (1, 0))
    [event] = staged(engine, str(saga.order_id))
    assert event.event_type == "InventoryFailed"
    assert event.payload.model_dump(mode="json")["reason"] == "out_of_stock"
    assert event.payload.model_dump(mode="json")["skus"] == [scarce]


def test_order_confirmed_needs_nothing_from_inventory() -> None:
    assert OrderConfirmed.event_type not in consumer.HANDLERS


def test_one_batch_reserves_in_order_releases_and_follows_each_orders_own_cause(
    sessions: sessionmaker[Session],
    sql_uow: Callable[[], SqlUnitOfWork],
    stock: Callable[[str, int], str],
    engine: Engine,
    staged: Any,
) -> None:
    a = stock("A", 3)
    first, second, third = (Saga(sessions, {a: 2}) for _ in range(3))
    created = [saga.created() for saga in (first, second, third)]
    for envelope in created:
        first.deliver(envelope)
    paid = [saga.paid() for saga in (first, second, third)]
    # One batch: three payments racing for 3 units (2 each), then the first order cancelled.
    batch = [*paid, first.cancelled()]

    applied = apply_batch(sessions, processed_events, GROUP, batch, consumer.HANDLERS)

    assert [e.event_id for e in applied] == [e.event_id for e in batch]
    # The first payment reserves 2, the second finds 1 left and fails, the third too; then the
    # cancel of the first (a later wave of its key) gives its 2 back.
    assert _levels(sql_uow, a) == (3, 0)
    assert (_held(sql_uow, first.order_id), _held(sql_uow, second.order_id)) == ({}, {})
    events = {saga.order_id: staged(engine, str(saga.order_id)) for saga in (first, second, third)}
    assert [e.event_type for e in events[first.order_id]] == ["ItemsReserved", "ItemsReleased"]
    assert [e.event_type for e in events[second.order_id]] == ["InventoryFailed"]
    assert [e.event_type for e in events[third.order_id]] == ["InventoryFailed"]
    for saga, payment in zip((first, second, third), paid, strict=True):
        assert events[saga.order_id][0].causation_id == payment.event_id
    assert events[first.order_id][1].causation_id == batch[-1].event_id

    # Redelivered as a whole, the batch changes nothing.
    assert apply_batch(sessions, processed_events, GROUP, batch, consumer.HANDLERS) == []
    assert _levels(sql_uow, a) == (3, 0)
    assert len(staged(engine, str(first.order_id))) == 2
