"""The SQL unit of work: events staged in the outbox with the change, savepoints, constraints."""

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from inventory_service import SCHEMA
from inventory_service.db import SqlUnitOfWork, create_db_engine
from inventory_service.domain import Product
from inventory_service.settings import Settings
from inventory_service.tables import metadata, products
from shared_events import OrderCancelled, new_envelope
from shared_events.contracts.orders import CancelReason

pytestmark = pytest.mark.integration


def test_committed_product_and_its_event_land_together_in_the_outbox(
    sql_uow: Callable[[], SqlUnitOfWork],
    engine: Engine,
    sku: Callable[[str], str],
    staged: Callable[..., Any],
) -> None:
    name = sku("A")
    with sql_uow() as uow:
        uow.products.add(Product.create(name, "Apple", 120, 3))
        uow.commit()

    [envelope] = staged(engine, name)
    assert envelope.event_type == "ProductUpserted"
    assert envelope.producer.service == "inventory"
    assert envelope.correlation_id == name and envelope.causation_id is None


def test_nothing_is_staged_without_a_commit(
    sql_uow: Callable[[], SqlUnitOfWork],
    engine: Engine,
    sku: Callable[[str], str],
    staged: Callable[..., Any],
) -> None:
    name = sku("A")
    with sql_uow() as uow:
        uow.products.add(Product.create(name, "Apple", 120, 3))

    with sql_uow() as uow:
        assert uow.products.get(name) is None
    assert staged(engine, name) == []


def test_a_riding_unit_of_work_follows_its_cause_and_leaves_the_commit_to_the_caller(
    sessions: sessionmaker[Session],
    engine: Engine,
    sku: Callable[[str], str],
    staged: Callable[..., Any],
) -> None:
    name = sku("A")
    cause = new_envelope(
        OrderCancelled(order_id=uuid4(), reason=CancelReason.CUSTOMER_CANCELLED), producer="test"
    )
    with sessions() as session, session.begin():
        with SqlUnitOfWork.riding(session, cause) as uow:
            uow.products.add(Product.create(name, "Apple", 120, 3))
            uow.commit()
        with SqlUnitOfWork.riding(session, cause) as uow:
            uow.products.add(Product.create(sku("B"), "Banana", 1, 1))
            # no commit: only this unit of work's savepoint is rolled back

    [envelope] = staged(engine, name)
    assert envelope.correlation_id == cause.correlation_id
    assert envelope.causation_id == cause.event_id
    with SqlUnitOfWork(sessions) as uow:
        assert uow.products.get(name) is not None
        assert uow.products.get(sku("B")) is None


def test_the_database_refuses_negative_available_stock(
    sql_uow: Callable[[], SqlUnitOfWork], engine: Engine, sku: Callable[[str], str]
) -> None:
    name = sku("A")
    with sql_uow() as uow:
        uow.products.add(Product.create(name, "Apple", 120, 1))
        uow.commit()

    with pytest.raises(IntegrityError, match="ck_products_available_not_negative"):
        with engine.begin() as conn:
            conn.execute(update(products).where(products.c.sku == name).values(available=-1))


def test_the_migrations_create_exactly_the_tables_the_code_uses(
    engine: Engine, inventory_settings: Settings
) -> None:
    # Reflect `inventory` as a named (non-default) schema, as the metadata names it.
    public = create_db_engine(
        inventory_settings.database_url, connect_args={"options": "-csearch_path=public"}
    )
    with public.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "include_name": lambda name, kind, _parent: kind != "schema" or name == SCHEMA,
                "version_table_schema": SCHEMA,
            },
        )
        differences = compare_metadata(context, metadata)
    public.dispose()
    assert differences == []


def test_the_role_is_refused_on_other_schemas(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(Exception, match="permission denied"):
        conn.execute(text("CREATE TABLE orders.intruder (id int)"))
