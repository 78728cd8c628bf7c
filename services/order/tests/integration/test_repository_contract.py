"""One contract for both units of work: the fake the unit tests use and the real SQL one."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from order_service.domain import CatalogEntry, IdempotencyRecord, Order, OrderItem, OrderStatus
from shared_events import CancelReason

pytestmark = pytest.mark.integration

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["fake", "sql"])
def make_uow(request, new_uow):
    if request.param == "fake":
        fake = new_uow()
        return lambda: fake
    return request.getfixturevalue("sql_uow")


def placed(customer="alice", *, items=(("SKU-1", 2, 250),)):
    return Order.place(
        uuid4(), customer, tuple(OrderItem(s, q, p) for s, q, p in items), currency="EUR"
    )


def store(make_uow, order):
    with make_uow() as uow:
        uow.orders.add(order)
        uow.commit()
    return order


def load(make_uow, order_id):
    with make_uow() as uow:
        return uow.orders.get(order_id)


def test_an_added_order_reads_back_with_items_and_history(make_uow):
    order = store(make_uow, placed(items=(("B", 1, 7), ("A", 3, 100))))

    loaded = load(make_uow, order.order_id)

    assert loaded is not None
    assert (loaded.customer_id, loaded.status, loaded.cancel_reason) == (
        "alice",
        OrderStatus.PENDING,
        None,
    )
    assert loaded.items == (OrderItem("B", 1, 7), OrderItem("A", 3, 100))
    assert (loaded.currency, loaded.total_cents) == ("EUR", 307)
    assert loaded.history == order.history
    assert loaded.created_at == order.created_at
    assert loaded.events == []


def test_an_unknown_order_is_none(make_uow):
    assert load(make_uow, uuid4()) is None


def test_saving_an_order_stores_its_status_and_new_history_once(make_uow):
    order = store(make_uow, placed())
    with make_uow() as uow:
        loaded = uow.orders.get(order.order_id, for_update=True)
        assert loaded is not None
        loaded.cancel_by_customer()
        uow.orders.save(loaded)
        uow.orders.save(loaded)
        uow.commit()

    reloaded = load(make_uow, order.order_id)
    assert reloaded is not None
    assert (reloaded.status, reloaded.cancel_reason) == (
        OrderStatus.CANCELLED,
        CancelReason.CUSTOMER_CANCELLED,
    )
    assert [h.event_type for h in reloaded.history] == ["OrderCreated", "OrderCancelled"]


def test_many_orders_load_and_save_together(make_uow):
    first, second = store(make_uow, placed("alice")), store(make_uow, placed("bob"))
    with make_uow() as uow:
        found = uow.orders.get_many([second.order_id, uuid4(), first.order_id], for_update=True)
        assert set(found) == {first.order_id, second.order_id}
        found[first.order_id].cancel_by_customer()
        uow.orders.save_many([found[first.order_id], found[second.order_id]])
        uow.commit()

    with make_uow() as uow:
        reloaded = uow.orders.get_many([first.order_id, second.order_id])
    assert [h.event_type for h in reloaded[first.order_id].history] == [
        "OrderCreated",
        "OrderCancelled",
    ]
    assert reloaded[first.order_id].status is OrderStatus.CANCELLED
    assert reloaded[second.order_id].status is OrderStatus.PENDING
    assert reloaded[second.order_id].history == second.history


def test_uncommitted_changes_are_discarded(make_uow):
    order = placed()
    with make_uow() as uow:
        uow.orders.add(order)

    assert load(make_uow, order.order_id) is None


def test_find_filters_by_customer_and_status_newest_first(make_uow):
    older = store(make_uow, placed("alice"))
    newer = store(make_uow, placed("alice"))
    store(make_uow, placed("bob"))
    with make_uow() as uow:
        loaded = uow.orders.get(older.order_id)
        assert loaded is not None
        loaded.cancel_by_customer()
        uow.orders.save(loaded)
        uow.commit()

    with make_uow() as uow:
        alices = uow.orders.find(customer_id="alice", status=None, limit=50)
        pending = uow.orders.find(customer_id="alice", status=OrderStatus.PENDING, limit=50)
        first = uow.orders.find(customer_id=None, status=None, limit=1)

    assert [o.order_id for o in alices] == [newer.order_id, older.order_id]
    assert [o.order_id for o in pending] == [newer.order_id]
    assert len(first) == 1


def test_catalog_upsert_keeps_the_newest_entry(make_uow):
    with make_uow() as uow:
        assert uow.catalog.upsert(CatalogEntry("SKU-1", "Mug", 250, T0))
        assert uow.catalog.upsert(CatalogEntry("SKU-1", "Big mug", 300, T0 + timedelta(seconds=1)))
        assert not uow.catalog.upsert(CatalogEntry("SKU-1", "Old mug", 100, T0))
        assert not uow.catalog.upsert(CatalogEntry("SKU-1", "Same", 1, T0 + timedelta(seconds=1)))
        uow.commit()

    with make_uow() as uow:
        assert uow.catalog.get("SKU-1") == CatalogEntry(
            "SKU-1", "Big mug", 300, T0 + timedelta(seconds=1)
        )
        assert uow.catalog.get("NOPE") is None
        assert set(uow.catalog.get_many({"SKU-1", "NOPE"})) == {"SKU-1"}


def test_catalog_upsert_many_keeps_the_newest_entry_of_each_sku(make_uow):
    with make_uow() as uow:
        uow.catalog.upsert(CatalogEntry("SKU-1", "Mug", 250, T0))
        uow.commit()
    later = T0 + timedelta(seconds=1)

    with make_uow() as uow:
        applied = uow.catalog.upsert_many(
            [
                CatalogEntry("SKU-2", "Lamp", 900, later),
                CatalogEntry("SKU-1", "Old mug", 100, T0 - timedelta(seconds=1)),
                CatalogEntry("SKU-2", "Big lamp", 1200, later + timedelta(seconds=1)),
                CatalogEntry("SKU-2", "Older lamp", 800, T0),
            ]
        )
        uow.commit()

    assert applied == {"SKU-2"}
    with make_uow() as uow:
        entries = uow.catalog.get_many({"SKU-1", "SKU-2"})
    assert (entries["SKU-1"].name, entries["SKU-2"].name) == ("Mug", "Big lamp")


def test_an_idempotency_key_is_claimed_once(make_uow):
    order = placed()
    first = IdempotencyRecord("key-1", "f1", order.order_id)
    with make_uow() as uow:
        assert uow.idempotency_keys.claim(first) is None
        uow.orders.add(order)
        uow.commit()

    with make_uow() as uow:
        assert uow.idempotency_keys.claim(IdempotencyRecord("key-1", "f2", uuid4())) == first
