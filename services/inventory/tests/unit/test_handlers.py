"""Every handler branch, and every interleaving of the events inventory consumes."""

import itertools
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inventory_service import handlers
from inventory_service.domain import Line, ReservationStatus, StockState
from shared_events import InventoryFailed, InventoryFailureReason, ItemsReleased, ItemsReserved

FakeUow = Any  # FakeUnitOfWork from tests/conftest.py

CREATED, PAID, CANCELLED = "created", "paid", "cancelled"


def put(uow: FakeUow, sku: str, quantity: int, price_cents: int = 100) -> None:
    handlers.upsert_product(handlers.UpsertProduct(sku, sku.lower(), price_cents, quantity), uow)


def apply(uow: FakeUow, step: str, order_id: UUID, items: tuple[Line, ...]) -> None:
    if step == CREATED:
        handlers.record_order(handlers.RecordOrder(order_id, items), uow)
    elif step == PAID:
        handlers.record_payment(handlers.RecordPayment(order_id), uow)
    else:
        handlers.cancel_order(handlers.CancelOrder(order_id), uow)


@pytest.fixture
def stocked(fake_uow: FakeUow) -> FakeUow:
    put(fake_uow, "A", 5)
    put(fake_uow, "B", 2)
    fake_uow.outbox.clear()
    return fake_uow


ITEMS = (Line("A", 2), Line("B", 1))


# -- products ------------------------------------------------------------------------------


def test_putting_a_new_product_creates_it_and_publishes_product_upserted(
    fake_uow: FakeUow,
) -> None:
    product, created = handlers.upsert_product(
        handlers.UpsertProduct("A", "Apple", 120, 4), fake_uow
    )

    assert created
    assert (product.sku, product.available, product.reserved) == ("A", 4, 0)
    assert fake_uow.stock("A") == (4, 0)
    assert fake_uow.published_types() == ["ProductUpserted"]


def test_putting_an_existing_product_replaces_it_and_keeps_its_reservations(
    stocked: FakeUow,
) -> None:
    order_id = uuid4()
    apply(stocked, CREATED, order_id, (Line("A", 3),))
    apply(stocked, PAID, order_id, ())

    product, created = handlers.upsert_product(
        handlers.UpsertProduct("A", "Apricot", 90, 10), stocked
    )

    assert not created
    assert (product.name, product.price_cents) == ("Apricot", 90)
    assert stocked.stock("A") == (10, 3)
    assert stocked.published_types()[-1] == "ProductUpserted"


def test_a_product_created_concurrently_is_replaced_not_refused(
    fake_uow_factory: type[FakeUow],
) -> None:
    class Racing(fake_uow_factory):  # type: ignore[misc,valid-type]
        """Another transaction commits the sku between our first lock (no row) and our insert."""

        def _fresh(self) -> None:
            super()._fresh()
            real_lock, locks = self.products.lock, itertools.count()
            self.products.lock = lambda skus: {} if next(locks) == 0 else real_lock(skus)

    uow = Racing()
    first, first_created = handlers.upsert_product(
        handlers.UpsertProduct("A", "Apple", 100, 1), uow
    )
    second, second_created = handlers.upsert_product(
        handlers.UpsertProduct("A", "Apricot", 90, 2), uow
    )

    assert (first_created, second_created) == (True, False)
    assert (second.name, second.price_cents, second.available) == ("Apricot", 90, 2)
    assert uow.stock("A") == (2, 0)
    assert uow.product("A").name == "Apricot"
    assert uow.published_types() == ["ProductUpserted", "ProductUpserted"]


def test_queries_return_products_and_reservations(stocked: FakeUow) -> None:
    order_id = uuid4()
    apply(stocked, CREATED, order_id, ITEMS)
    apply(stocked, PAID, order_id, ())

    assert handlers.get_product("A", stocked) is not None
    assert handlers.get_product("nope", stocked) is None
    assert [p.sku for p in handlers.list_products(stocked)] == ["A", "B"]
    rows = handlers.list_reservations(order_id, stocked)
    assert [(r.sku, r.quantity, r.status) for r in rows] == [
        ("A", 2, ReservationStatus.RESERVED),
        ("B", 1, ReservationStatus.RESERVED),
    ]
    assert handlers.list_reservations(uuid4(), stocked) == []


# -- the saga: reserving -------------------------------------------------------------------


def test_order_created_then_paid_reserves_every_item(stocked: FakeUow) -> None:
    order_id = uuid4()
    apply(stocked, CREATED, order_id, ITEMS)
    assert stocked.payloads() == []

    apply(stocked, PAID, order_id, ())

    assert (stocked.stock("A"), stocked.stock("B")) == ((3, 2), (1, 1))
    [event] = stocked.payloads()
    assert isinstance(event, ItemsReserved)
    assert event.order_id == order_id


def test_payment_seen_before_order_created_reserves_when_the_items_arrive(
    stocked: FakeUow,
) -> None:
    order_id = uuid4()
    apply(stocked, PAID, order_id, ())
    assert stocked.payloads() == []
    assert stocked.order(order_id).paid

    apply(stocked, CREATED, order_id, ITEMS)

    assert stocked.published_types() == ["ItemsReserved"]
    assert stocked.stock("A") == (3, 2)


def test_order_created_without_payment_reserves_nothing(stocked: FakeUow) -> None:
    order_id = uuid4()
    apply(stocked, CREATED, order_id, ITEMS)

    assert stocked.order(order_id).stock is StockState.AWAITING
    assert stocked.stock("A") == (5, 0)


def test_a_short_sku_reserves_nothing_and_publishes_out_of_stock(stocked: FakeUow) -> None:
    order_id = uuid4()
    apply(stocked, CREATED, order_id, (Line("A", 1), Line("B", 3)))
    apply(stocked, PAID, order_id, ())

    assert (stocked.stock("A"), stocked.stock("B")) == ((5, 0), (2, 0))
    assert stocked.payloads() == [
        InventoryFailed(order_id=order_id, reason=InventoryFailureReason.OUT_OF_STOCK, skus=("B",))
    ]
    assert handlers.list_reservations(order_id, stocked) == []


def test_an_unknown_sku_reserves_nothing_and_publishes_unknown_sku(stocked: FakeUow) -> None:
    order_id = uuid4()
    apply(stocked, PAID, order_id, ())
    apply(stocked, CREATED, order_id, (Line("A", 1), Line("ZZ", 1)))

    assert stocked.payloads() == [
        InventoryFailed(order_id=order_id, reason=InventoryFailureReason.UNKNOWN_SKU, skus=("ZZ",))
    ]
    assert stocked.stock("A") == (5, 0)


def test_repeated_lines_of_one_sku_are_reserved_together(stocked: FakeUow) -> None:
    order_id = uuid4()
    apply(stocked, CREATED, order_id, (Line("A", 2), Line("A", 3)))
    apply(stocked, PAID, order_id, ())

    assert stocked.stock("A") == (0, 5)
    assert [(r.sku, r.quantity) for r in handlers.list_reservations(order_id, stocked)] == [
        ("A", 5)
    ]


def test_a_duplicate_payment_reserves_once(stocked: FakeUow) -> None:
    order_id = uuid4()
    for step in (CREATED, PAID, PAID, CREATED):
        apply(stocked, step, order_id, ITEMS)

    assert stocked.published_types() == ["ItemsReserved"]
    assert stocked.stock("A") == (3, 2)


def test_a_failed_order_is_not_retried_by_a_duplicate_payment(stocked: FakeUow) -> None:
    order_id = uuid4()
    apply(stocked, CREATED, order_id, (Line("B", 9),))
    apply(stocked, PAID, order_id, ())
    put(stocked, "B", 100)  # restocked meanwhile: the order already failed, for good
    apply(stocked, PAID, order_id, ())

    assert stocked.published_types() == ["InventoryFailed", "ProductUpserted"]
    assert stocked.stock("B") == (100, 0)


# -- the saga: cancelling ------------------------------------------------------------------


def test_cancelled_order_releases_stock(stocked: FakeUow) -> None:
    order_id = uuid4()
    apply(stocked, CREATED, order_id, ITEMS)
    apply(stocked, PAID, order_id, ())

    apply(stocked, CANCELLED, order_id, ())

    assert (stocked.stock("A"), stocked.stock("B")) == ((5, 0), (2, 0))
    assert stocked.payloads()[-1] == ItemsReleased(order_id=order_id)
    statuses = {r.status for r in handlers.list_reservations(order_id, stocked)}
    assert statuses == {ReservationStatus.RELEASED}


def test_a_duplicate_cancel_releases_once(stocked: FakeUow) -> None:
    order_id = uuid4()
    for step in (CREATED, PAID, CANCELLED, CANCELLED, PAID):
        apply(stocked, step, order_id, ITEMS)

    assert stocked.published_types() == ["ItemsReserved", "ItemsReleased"]
    assert stocked.stock("A") == (5, 0)


def test_cancel_seen_before_payment_means_the_payment_reserves_nothing(stocked: FakeUow) -> None:
    order_id = uuid4()
    for step in (CREATED, CANCELLED, PAID):
        apply(stocked, step, order_id, ITEMS)

    assert stocked.payloads() == []
    assert stocked.stock("A") == (5, 0)
    assert stocked.order(order_id).cancelled


def test_cancel_of_a_failed_order_releases_nothing(stocked: FakeUow) -> None:
    order_id = uuid4()
    for step in (CREATED, PAID):
        apply(stocked, step, order_id, (Line("B", 3),))
    apply(stocked, CANCELLED, order_id, ())

    assert stocked.published_types() == ["InventoryFailed"]
    assert stocked.order(order_id).stock is StockState.FAILED


def test_cancel_of_an_order_never_seen_is_remembered(stocked: FakeUow) -> None:
    order_id = uuid4()
    apply(stocked, CANCELLED, order_id, ())

    assert stocked.order(order_id).cancelled
    assert stocked.payloads() == []


@pytest.mark.parametrize("steps", list(itertools.permutations([CREATED, PAID, CANCELLED])))
def test_every_order_of_the_three_events_ends_holding_nothing(
    stocked: FakeUow, steps: tuple[str, ...]
) -> None:
    order_id = uuid4()
    for step in steps:
        apply(stocked, step, order_id, ITEMS)

    reserved_first = steps.index(CANCELLED) == 2
    expected = ["ItemsReserved", "ItemsReleased"] if reserved_first else []
    assert stocked.published_types() == expected
    assert (stocked.stock("A"), stocked.stock("B")) == ((5, 0), (2, 0))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(st.sampled_from([CREATED, PAID, CANCELLED]), max_size=8))
def test_any_sequence_with_redeliveries_keeps_the_stock_invariants(
    fake_uow_factory: type[FakeUow], steps: list[str]
) -> None:
    uow = fake_uow_factory()
    put(uow, "A", 5)
    put(uow, "B", 2)
    uow.outbox.clear()
    order_id = uuid4()

    for step in steps:
        apply(uow, step, order_id, ITEMS)

    types = uow.published_types()
    first_cancel = steps.index(CANCELLED) if CANCELLED in steps else len(steps)
    due = CREATED in steps[:first_cancel] and PAID in steps[:first_cancel]
    assert types.count("ItemsReserved") == (1 if due else 0)
    assert types.count("ItemsReleased") == (1 if due and CANCELLED in steps else 0)
    assert sum(uow.stock("A")) == 5 and sum(uow.stock("B")) == 2
    held = (uow.stock("A")[1], uow.stock("B")[1])
    assert held == ((2, 1) if due and CANCELLED not in steps else (0, 0))
