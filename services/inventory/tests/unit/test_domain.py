"""Rules of products, stock and inventory's record of an order, without any I/O."""

from uuid import uuid4

import pytest

from inventory_service.domain import (
    InvalidProduct,
    Line,
    Order,
    Product,
    ReservationStatus,
    StockShortage,
    StockState,
    merge_lines,
)
from shared_events import (
    InventoryFailed,
    InventoryFailureReason,
    ItemsReleased,
    ItemsReserved,
    ProductUpserted,
)


def test_new_product_has_quantity_available_and_records_product_upserted() -> None:
    product = Product.create("SKU-1", "Widget", 250, 7)

    assert (product.available, product.reserved) == (7, 0)
    assert product.events == [ProductUpserted(sku="SKU-1", name="Widget", price_cents=250)]


def test_replacing_a_product_sets_available_and_keeps_reserved() -> None:
    product = Product(sku="SKU-1", name="Old", price_cents=100, available=3, reserved=2)

    product.replace("New", 300, 10)

    assert (product.name, product.price_cents, product.available, product.reserved) == (
        "New",
        300,
        10,
        2,
    )
    assert product.events == [ProductUpserted(sku="SKU-1", name="New", price_cents=300)]


@pytest.mark.parametrize(
    ("name", "price_cents", "quantity"),
    [("", 100, 1), ("Widget", 0, 1), ("Widget", -5, 1), ("Widget", 100, -1)],
)
def test_product_with_empty_name_non_positive_price_or_negative_quantity_is_refused(
    name: str, price_cents: int, quantity: int
) -> None:
    with pytest.raises(InvalidProduct):
        Product.create("SKU-1", name, price_cents, quantity)


def test_holding_and_giving_back_never_change_available_plus_reserved() -> None:
    product = Product(sku="S", name="n", price_cents=1, available=5)

    product.hold(5)
    assert (product.available, product.reserved) == (0, 5)
    product.give_back(2)
    assert (product.available, product.reserved) == (2, 3)


def test_holding_more_than_available_is_refused_and_changes_nothing() -> None:
    product = Product(sku="S", name="n", price_cents=1, available=2)

    with pytest.raises(StockShortage):
        product.hold(3)
    assert (product.available, product.reserved) == (2, 0)


def test_giving_back_more_than_reserved_is_refused() -> None:
    product = Product(sku="S", name="n", price_cents=1, available=2, reserved=1)

    with pytest.raises(StockShortage):
        product.give_back(2)


def test_lines_of_one_sku_are_merged_and_sorted_by_sku() -> None:
    merged = merge_lines([Line("B", 1), Line("A", 2), Line("B", 3)])

    assert merged == (Line("A", 2), Line("B", 4))


def _paid_order(*lines: Line) -> Order:
    order = Order(uuid4())
    order.record_items(lines)
    order.record_payment()
    return order


def _stock(**available: int) -> dict[str, Product]:
    return {
        sku: Product(sku=sku, name=sku, price_cents=1, available=n) for sku, n in available.items()
    }


def test_order_is_due_for_reservation_only_when_known_paid_and_not_cancelled() -> None:
    order = Order(uuid4())
    assert not order.due_for_reservation
    order.record_payment()
    assert not order.due_for_reservation
    order.record_items([Line("A", 1)])
    assert order.due_for_reservation
    order.cancel({})
    assert not order.due_for_reservation


def test_reserving_holds_every_item_and_records_items_reserved() -> None:
    order = _paid_order(Line("A", 2), Line("B", 1))
    products = _stock(A=2, B=5)

    order.reserve(products)

    assert order.stock is StockState.RESERVED
    assert [(p.available, p.reserved) for p in products.values()] == [(0, 2), (4, 1)]
    assert [(r.sku, r.quantity, r.status) for r in order.reservations] == [
        ("A", 2, ReservationStatus.RESERVED),
        ("B", 1, ReservationStatus.RESERVED),
    ]
    [event] = order.events
    assert isinstance(event, ItemsReserved)
    assert [(i.sku, i.quantity) for i in event.items] == [("A", 2), ("B", 1)]


def test_one_short_sku_reserves_nothing_and_records_out_of_stock() -> None:
    order = _paid_order(Line("A", 1), Line("B", 6))
    products = _stock(A=10, B=5)

    order.reserve(products)

    assert order.stock is StockState.FAILED
    assert order.reservations == []
    assert [(p.available, p.reserved) for p in products.values()] == [(10, 0), (5, 0)]
    assert order.events == [
        InventoryFailed(
            order_id=order.order_id, reason=InventoryFailureReason.OUT_OF_STOCK, skus=("B",)
        )
    ]


def test_unknown_sku_reserves_nothing_and_records_unknown_sku_first() -> None:
    order = _paid_order(Line("A", 1), Line("GHOST", 1), Line("B", 99))

    order.reserve(_stock(A=10, B=1))

    assert order.events == [
        InventoryFailed(
            order_id=order.order_id, reason=InventoryFailureReason.UNKNOWN_SKU, skus=("GHOST",)
        )
    ]


def test_reserving_twice_holds_once() -> None:
    order = _paid_order(Line("A", 1))
    products = _stock(A=5)

    order.reserve(products)
    order.reserve(products)

    assert (products["A"].available, products["A"].reserved) == (4, 1)
    assert len(order.events) == 1


def test_cancelling_a_reserved_order_releases_it_once() -> None:
    order = _paid_order(Line("A", 3))
    products = _stock(A=3)
    order.reserve(products)
    order.events.clear()

    order.cancel(products)
    order.cancel(products)

    assert order.stock is StockState.RELEASED
    assert (products["A"].available, products["A"].reserved) == (3, 0)
    assert [r.status for r in order.reservations] == [ReservationStatus.RELEASED]
    assert order.events == [ItemsReleased(order_id=order.order_id)]


def test_cancelling_before_reservation_prevents_it() -> None:
    order = Order(uuid4())
    order.cancel({})
    order.record_items([Line("A", 1)])
    order.record_payment()
    products = _stock(A=1)

    order.reserve(products)

    assert order.stock is StockState.AWAITING
    assert order.events == []
    assert products["A"].reserved == 0


def test_first_items_seen_win() -> None:
    order = Order(uuid4())
    order.record_items([Line("A", 1)])
    order.record_items([Line("B", 2)])

    assert order.items == (Line("A", 1),)


def test_skus_to_lock_are_sorted() -> None:
    order = _paid_order(Line("C", 1), Line("A", 1), Line("B", 1))

    assert order.skus_to_lock() == ["A", "B", "C"]
