"""One contract, two implementations: the in-memory fakes and the SQL repositories."""

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest

from inventory_service.domain import (
    Line,
    Order,
    Product,
    ProductExists,
    Reservation,
    ReservationStatus,
    StockState,
)

UowFactory = Callable[[], Any]


@pytest.fixture(params=["fake", pytest.param("sql", marks=pytest.mark.integration)])
def new_uow(request: pytest.FixtureRequest) -> UowFactory:
    """Units of work sharing one store: the same fake each time, or fresh SQL ones."""
    if request.param == "fake":
        fake = request.getfixturevalue("fake_uow")
        return lambda: fake
    factory: UowFactory = request.getfixturevalue("sql_uow")
    return factory


@pytest.fixture
def unique() -> Callable[[str], str]:
    run = uuid4().hex[:8]
    return lambda name: f"{name}-{run}"


def _add(new_uow: UowFactory, product: Product) -> None:
    with new_uow() as uow:
        uow.products.add(product)
        uow.commit()


def test_an_added_product_can_be_read_back(
    new_uow: UowFactory, unique: Callable[[str], str]
) -> None:
    sku = unique("A")
    _add(new_uow, Product(sku=sku, name="Apple", price_cents=120, available=4, reserved=1))

    with new_uow() as uow:
        found = uow.products.get(sku)
        missing = uow.products.get(unique("missing"))

    assert found is not None
    assert (found.sku, found.name, found.price_cents, found.available, found.reserved) == (
        sku,
        "Apple",
        120,
        4,
        1,
    )
    assert missing is None


def test_adding_an_existing_sku_raises_product_exists(
    new_uow: UowFactory, unique: Callable[[str], str]
) -> None:
    sku = unique("A")
    _add(new_uow, Product(sku=sku, name="Apple", price_cents=1, available=1))

    with new_uow() as uow, pytest.raises(ProductExists):
        uow.products.add(Product(sku=sku, name="Again", price_cents=1, available=1))


def test_lock_returns_the_known_skus_only(
    new_uow: UowFactory, unique: Callable[[str], str]
) -> None:
    a, b = unique("A"), unique("B")
    _add(new_uow, Product(sku=b, name="b", price_cents=1, available=1))
    _add(new_uow, Product(sku=a, name="a", price_cents=1, available=1))

    with new_uow() as uow:
        locked = uow.products.lock([b, unique("ghost"), a, b])

    assert sorted(locked) == [a, b]
    assert all(sku == product.sku for sku, product in locked.items())


def test_saved_stock_is_visible_after_commit_only(
    new_uow: UowFactory, unique: Callable[[str], str]
) -> None:
    sku = unique("A")
    _add(new_uow, Product(sku=sku, name="a", price_cents=1, available=5))

    with new_uow() as uow:
        product = uow.products.lock([sku])[sku]
        product.hold(2)
        uow.products.save(product)  # no commit: rolled back at exit
    with new_uow() as uow:
        product = uow.products.lock([sku])[sku]
        product.hold(3)
        uow.products.save(product)
        uow.commit()

    with new_uow() as uow:
        found = uow.products.get(sku)
    assert found is not None and (found.available, found.reserved) == (2, 3)


def test_list_returns_products_by_sku(new_uow: UowFactory, unique: Callable[[str], str]) -> None:
    b, a = unique("B"), unique("A")
    for sku in (b, a):
        _add(new_uow, Product(sku=sku, name=sku, price_cents=1, available=0))

    with new_uow() as uow:
        listed = [p.sku for p in uow.products.list() if p.sku in (a, b)]

    assert listed == [a, b]


def test_an_order_seen_first_is_created_empty(new_uow: UowFactory) -> None:
    order_id = uuid4()

    with new_uow() as uow:
        order = uow.orders.lock(order_id)

    assert (order.order_id, order.items, order.paid, order.cancelled, order.stock) == (
        order_id,
        None,
        False,
        False,
        StockState.AWAITING,
    )
    assert order.reservations == []


def test_an_order_round_trips_with_its_reservations(
    new_uow: UowFactory, unique: Callable[[str], str]
) -> None:
    a, b = unique("A"), unique("B")
    for sku in (a, b):
        _add(new_uow, Product(sku=sku, name=sku, price_cents=1, available=9))
    order_id = uuid4()
    with new_uow() as uow:
        order = uow.orders.lock(order_id)
        order.items = (Line(a, 1), Line(b, 2))
        order.paid = True
        order.stock = StockState.RESERVED
        order.reservations = [Reservation(a, 1), Reservation(b, 2)]
        uow.orders.save(order)
        uow.commit()

    with new_uow() as uow:
        loaded = uow.orders.lock(order_id)
        views = uow.orders.reservations(order_id)

    assert (loaded.items, loaded.paid, loaded.cancelled, loaded.stock) == (
        (Line(a, 1), Line(b, 2)),
        True,
        False,
        StockState.RESERVED,
    )
    assert [(r.sku, r.quantity, r.status) for r in loaded.reservations] == [
        (a, 1, ReservationStatus.RESERVED),
        (b, 2, ReservationStatus.RESERVED),
    ]
    assert [(v.order_id, v.sku, v.quantity, v.status) for v in views] == [
        (order_id, a, 1, ReservationStatus.RESERVED),
        (order_id, b, 2, ReservationStatus.RESERVED),
    ]


def test_a_released_reservation_keeps_its_row_with_the_new_status(
    new_uow: UowFactory, unique: Callable[[str], str]
) -> None:
    sku = unique("A")
    _add(new_uow, Product(sku=sku, name=sku, price_cents=1, available=9))
    order_id = uuid4()
    with new_uow() as uow:
        order: Order = uow.orders.lock(order_id)
        order.stock, order.reservations = StockState.RESERVED, [Reservation(sku, 3)]
        uow.orders.save(order)
        uow.commit()
    with new_uow() as uow:
        order = uow.orders.lock(order_id)
        order.cancelled, order.stock = True, StockState.RELEASED
        order.reservations[0].status = ReservationStatus.RELEASED
        uow.orders.save(order)
        uow.commit()

    with new_uow() as uow:
        views = uow.orders.reservations(order_id)

    assert [(v.sku, v.quantity, v.status) for v in views] == [(sku, 3, ReservationStatus.RELEASED)]
    assert views[0].updated_at >= views[0].created_at


def test_order_changes_without_commit_are_discarded(new_uow: UowFactory) -> None:
    order_id = uuid4()
    with new_uow() as uow:
        order = uow.orders.lock(order_id)
        order.paid = True
        uow.orders.save(order)

    with new_uow() as uow:
        assert not uow.orders.lock(order_id).paid
