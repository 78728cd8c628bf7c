"""Real PostgreSQL for the order service: the `orders` schema migrated once, emptied per test."""

import warnings
from collections.abc import Callable, Iterator

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette prefers httpx2 over the workspace's httpx; the client works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from order_service import SCHEMA
from order_service.bootstrap import bootstrap
from order_service.settings import Settings
from order_service.tables import metadata
from order_service.unit_of_work import SqlUnitOfWork
from shared_events.runtime.migrations import upgrade

ROLE = "order_service"


@pytest.fixture(scope="session")
def order_db_url(infra):
    return infra.sqlalchemy_url(ROLE)


@pytest.fixture(scope="session")
def order_engine(order_db_url) -> Iterator[Engine]:
    engine = create_engine(order_db_url, pool_size=10)
    with engine.begin() as connection:
        # Start from an empty schema, so the migration itself is under test.
        tables = connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"), {"schema": SCHEMA}
        ).scalars()
        for table in list(tables):
            connection.execute(text(f'DROP TABLE IF EXISTS {SCHEMA}."{table}" CASCADE'))
    upgrade("order_service", order_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def order_sessions(order_engine: Engine) -> sessionmaker[Session]:
    names = ", ".join(f"{SCHEMA}.{table.name}" for table in metadata.sorted_tables)
    with order_engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} CASCADE"))
    return sessionmaker(order_engine)


@pytest.fixture
def sql_uow(order_sessions: sessionmaker[Session]) -> Callable[[], SqlUnitOfWork]:
    return lambda: SqlUnitOfWork(order_sessions)


@pytest.fixture
def client(order_engine: Engine, order_sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    service = bootstrap(Settings(), engine=order_engine, consume=False, relay=False)
    assert service.app is not None
    with TestClient(service.app) as test_client:
        yield test_client


@pytest.fixture
def count_rows(order_engine: Engine) -> Callable[[str], int]:
    def count(table: str) -> int:
        with order_engine.connect() as connection:
            return connection.execute(
                select(func.count()).select_from(metadata.tables[f"{SCHEMA}.{table}"])
            ).scalar_one()

    return count
