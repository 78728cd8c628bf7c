"""`publish-catalog`: every product's current state staged again for `product-catalog`."""

import socket
from typing import Any

import pytest

from inventory_service import handlers
from inventory_service.__main__ import main
from shared_events import ProductUpserted
from shared_events.topics import PRODUCT_CATALOG

FakeUow = Any  # FakeUnitOfWork from tests/conftest.py


def put(uow: FakeUow, sku: str, price_cents: int, quantity: int = 3) -> None:
    handlers.upsert_product(handlers.UpsertProduct(sku, f"name {sku}", price_cents, quantity), uow)


def test_every_product_is_published_as_it_is_now_page_by_page(fake_uow: FakeUow) -> None:
    for sku, price in [("E", 5), ("A", 1), ("C", 3), ("B", 2), ("D", 4)]:
        put(fake_uow, sku, price)
    put(fake_uow, "A", 10)  # the current price is the one published
    fake_uow.outbox.clear()
    commits = fake_uow.commits

    staged = handlers.publish_catalog(handlers.PublishCatalog(page_size=2), fake_uow)

    assert staged == 5
    assert fake_uow.payloads() == [
        ProductUpserted(sku=sku, name=f"name {sku}", price_cents=price)
        for sku, price in [("A", 10), ("B", 2), ("C", 3), ("D", 4), ("E", 5)]
    ]
    assert fake_uow.commits - commits == 3  # pages of 2, 2 and 1


def test_a_full_last_page_ends_with_an_empty_one(fake_uow: FakeUow) -> None:
    put(fake_uow, "A", 1)
    put(fake_uow, "B", 2)
    fake_uow.outbox.clear()

    assert handlers.publish_catalog(handlers.PublishCatalog(page_size=2), fake_uow) == 2
    assert [e.sku for e in fake_uow.payloads() if isinstance(e, ProductUpserted)] == ["A", "B"]


def test_publishing_changes_no_stock(fake_uow: FakeUow) -> None:
    put(fake_uow, "A", 1, quantity=7)
    before = fake_uow.stock("A")

    handlers.publish_catalog(handlers.PublishCatalog(), fake_uow)

    assert fake_uow.stock("A") == before
    assert fake_uow.product("A").name == "name A"


def test_an_empty_catalog_publishes_nothing(fake_uow: FakeUow) -> None:
    assert handlers.publish_catalog(handlers.PublishCatalog(), fake_uow) == 0
    assert fake_uow.payloads() == []


def test_a_page_holds_at_least_one_product(fake_uow: FakeUow) -> None:
    with pytest.raises(ValueError, match="page_size"):
        handlers.publish_catalog(handlers.PublishCatalog(page_size=0), fake_uow)


def test_the_catalog_goes_to_its_compacted_topic_keyed_by_sku() -> None:
    event = ProductUpserted(sku="A", name="Apple", price_cents=1)
    assert (event.topic, event.key()) == (PRODUCT_CATALOG, "A")


def test_the_command_refuses_an_empty_page(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["publish-catalog", "--page-size", "0"])

    assert exited.value.code == 2
    assert "--page-size: must be at least 1" in capsys.readouterr().err


def test_the_command_names_an_unreachable_database_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    monkeypatch.setenv("INVENTORY_DB_HOST", "127.0.0.1")
    monkeypatch.setenv("INVENTORY_DB_PORT", str(closed_port))

    assert main(["publish-catalog"]) == 1

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("inventory-service: database unreachable at")
