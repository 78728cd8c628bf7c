"""The local catalog fed by ProductUpserted, and pricing requested items from it."""

from datetime import UTC, datetime, timedelta

import pytest

from order_service import handlers
from order_service.domain import CatalogEntry, UnknownSkus, price_items

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_product_upserted_adds_the_sku_to_the_catalog(uow, saga):
    event = saga.product_upserted("SKU-1", 250, name="Mug")

    assert handlers.products_upserted([event], uow) == {"SKU-1"}

    entry = uow.committed_catalog["SKU-1"]
    assert (entry.name, entry.price_cents, entry.updated_at) == ("Mug", 250, event.occurred_at)


def test_a_newer_product_update_replaces_the_price(uow, saga):
    handlers.products_upserted([saga.product_upserted("SKU-1", 250, age_s=60)], uow)

    handlers.products_upserted([saga.product_upserted("SKU-1", 300, name="Big mug")], uow)

    assert uow.committed_catalog["SKU-1"].price_cents == 300
    assert uow.committed_catalog["SKU-1"].name == "Big mug"


def test_an_older_product_update_arriving_late_is_ignored(uow, saga):
    handlers.products_upserted([saga.product_upserted("SKU-1", 300)], uow)

    applied = handlers.products_upserted([saga.product_upserted("SKU-1", 250, age_s=60)], uow)

    assert applied == set()
    assert uow.committed_catalog["SKU-1"].price_cents == 300


def test_a_redelivered_product_update_is_ignored(uow, saga):
    event = saga.product_upserted("SKU-1", 300)
    handlers.products_upserted([event], uow)

    assert handlers.products_upserted([event], uow) == set()


def test_during_the_topic_move_a_late_record_of_the_old_topic_never_wins(uow, saga):
    # product-catalog delivered the newer price first; inventory-events (what inventory wrote
    # before 2.4.0) catches up later with the older one, in a batch of its own or the same one.
    newer = saga.product_upserted("SKU-1", 300, name="Big mug")
    older = saga.product_upserted("SKU-1", 250, name="Mug", age_s=3600)
    handlers.products_upserted([newer], uow)

    assert handlers.products_upserted([older], uow) == set()
    assert handlers.products_upserted([older, newer, older], uow) == set()
    assert (uow.committed_catalog["SKU-1"].name, uow.committed_catalog["SKU-1"].price_cents) == (
        "Big mug",
        300,
    )


def test_a_republished_product_replaces_an_entry_with_the_same_state(uow, saga):
    handlers.products_upserted([saga.product_upserted("SKU-1", 300, age_s=86_400 * 400)], uow)
    # `inventory-service publish-catalog` writes every product's current state anew.
    republished = saga.product_upserted("SKU-1", 300)

    assert handlers.products_upserted([republished], uow) == {"SKU-1"}
    assert uow.committed_catalog["SKU-1"].updated_at == republished.occurred_at
    assert uow.committed_catalog["SKU-1"].price_cents == 300


def test_an_entry_supersedes_only_older_entries():
    old = CatalogEntry("S", "n", 1, NOW)
    assert CatalogEntry("S", "n", 2, NOW + timedelta(seconds=1)).supersedes(old)
    assert CatalogEntry("S", "n", 2, NOW).supersedes(None)
    assert not CatalogEntry("S", "n", 2, NOW).supersedes(old)
    assert not CatalogEntry("S", "n", 2, NOW - timedelta(seconds=1)).supersedes(old)


def test_pricing_merges_repeated_skus_in_first_seen_order():
    catalog = {s: CatalogEntry(s, s, p, NOW) for s, p in [("A", 100), ("B", 7)]}

    items = price_items([("B", 1), ("A", 2), ("B", 4)], catalog)

    assert [(i.sku, i.quantity, i.unit_price_cents) for i in items] == [("B", 5, 7), ("A", 2, 100)]


def test_pricing_names_every_unknown_position():
    catalog = {"A": CatalogEntry("A", "A", 100, NOW)}

    with pytest.raises(UnknownSkus) as rejected:
        price_items([("X", 1), ("A", 1), ("X", 2)], catalog)

    assert rejected.value.positions == {0: "X", 2: "X"}
