"""The catalog on the real database: bound for `product-catalog` through the outbox."""

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from inventory_service import handlers
from inventory_service.__main__ import main
from inventory_service.settings import Settings
from inventory_service.tables import outbox
from inventory_service.unit_of_work import SqlUnitOfWork
from shared_events.topics import PRODUCT_CATALOG

pytestmark = pytest.mark.integration


def outbox_topics(engine: Engine, key: str) -> list[str]:
    query = select(outbox.c.topic).where(outbox.c.key == key.encode()).order_by(outbox.c.id)
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


def put(uow: SqlUnitOfWork, sku: str, name: str, price_cents: int) -> None:
    handlers.upsert_product(handlers.UpsertProduct(sku, name, price_cents, 5), uow)


def test_a_put_product_is_staged_for_product_catalog_keyed_by_its_sku(
    sql_uow: Callable[[], SqlUnitOfWork],
    engine: Engine,
    sku: Callable[[str], str],
    staged: Callable[..., Any],
) -> None:
    name = sku("A")
    put(sql_uow(), name, "Apple", 120)

    assert outbox_topics(engine, name) == [PRODUCT_CATALOG]
    [envelope] = staged(engine, name)
    assert (envelope.event_type, envelope.payload.sku) == ("ProductUpserted", name)


def test_publish_catalog_stages_every_product_as_it_is_now(
    sql_uow: Callable[[], SqlUnitOfWork],
    engine: Engine,
    sku: Callable[[str], str],
    staged: Callable[..., Any],
) -> None:
    names = [sku(letter) for letter in "ABC"]
    for n, name in enumerate(names):
        put(sql_uow(), name, f"Product {n}", 100 + n)
    put(sql_uow(), names[0], "Renamed", 999)

    count = handlers.publish_catalog(handlers.PublishCatalog(page_size=2), sql_uow())

    assert count >= 3  # the schema holds other tests' products too: all are published
    for n, name in enumerate(names):
        *_, republished = staged(engine, name)
        assert republished.event_type == "ProductUpserted"
        assert republished.producer.service == "inventory"
        assert (republished.payload.name, republished.payload.price_cents) == (
            ("Renamed", 999) if n == 0 else (f"Product {n}", 100 + n)
        )
        assert set(outbox_topics(engine, name)) == {PRODUCT_CATALOG}
    # Stock is untouched.
    with sql_uow() as uow:
        product = uow.products.get(names[1])
        assert product is not None and (product.available, product.reserved) == (5, 0)


def test_a_put_waits_for_the_page_being_published(
    sessions: sessionmaker[Session], sql_uow: Callable[[], SqlUnitOfWork], sku: Callable[[str], str]
) -> None:
    name = sku("A")
    put(sql_uow(), name, "Apple", 120)

    with sql_uow() as publishing:
        # The page holding our sku stays share-locked until this transaction commits.
        page = publishing.products.lock_page(None, 1_000_000)
        assert name in [p.sku for p in page]
        with sessions() as other:
            other.execute(text("SET LOCAL lock_timeout = '200ms'"))
            with pytest.raises(OperationalError, match="lock timeout"):
                put(SqlUnitOfWork.riding(other, ()), name, "Apricot", 130)
            other.rollback()


def test_the_command_stages_the_catalog_and_says_how_much(
    inventory_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sql_uow: Callable[[], SqlUnitOfWork],
    engine: Engine,
    sku: Callable[[str], str],
) -> None:
    name = sku("A")
    put(sql_uow(), name, "Apple", 120)
    for field in ("db_host", "db_port", "db_name", "db_user", "db_password"):
        monkeypatch.setenv(f"INVENTORY_{field.upper()}", str(getattr(inventory_settings, field)))

    assert main(["publish-catalog", "--page-size", "50"]) == 0

    out = capsys.readouterr().out
    assert f"for {PRODUCT_CATALOG}" in out and "staged " in out
    assert outbox_topics(engine, name) == [PRODUCT_CATALOG, PRODUCT_CATALOG]
