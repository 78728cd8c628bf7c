"""The SQL unit of work: events staged in the outbox with the change, batches, constraints."""

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from inventory_service import SCHEMA
from inventory_service.db import create_db_engine
from inventory_service.domain import Product
from inventory_service.settings import Settings
from inventory_service.tables import metadata, outbox, products
from inventory_service.unit_of_work import SqlUnitOfWork
from shared_events import ItemsReleased, OrderCancelled, new_envelope
from shared_events.contracts.orders import CancelReason
from shared_events.kafka.publishing.outbox import write_staged

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


def test_a_riding_unit_of_work_follows_each_orders_cause_and_leaves_the_outbox_to_the_consumer(
    sessions: sessionmaker[Session],
    engine: Engine,
    staged: Callable[..., Any],
) -> None:
    first, second = uuid4(), uuid4()
    causes = [
        new_envelope(
            OrderCancelled(order_id=order_id, reason=CancelReason.CUSTOMER_CANCELLED),
            producer="test",
        )
        for order_id in (first, second)
    ]
    with sessions() as session, session.begin():
        with SqlUnitOfWork.riding(session, causes) as uow:
            orders = uow.orders.lock_many([second, first])
            assert [order.order_id for order in orders] == [second, first]
            for order in orders:
                order.events.append(ItemsReleased(order_id=order.order_id))
            uow.orders.save_many(orders)
            uow.commit()
        # Staged only: the consumer writes the outbox once for the whole batch, then commits.
        keys = [str(order_id).encode() for order_id in (first, second)]
        unwritten = select(func.count()).select_from(outbox).where(outbox.c.key.in_(keys))
        assert session.scalar(unwritten) == 0
        assert write_staged(session) == 2

    for cause in causes:
        [envelope] = staged(engine, cause.correlation_id)
        assert envelope.correlation_id == cause.correlation_id
        assert envelope.causation_id == cause.event_id


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
