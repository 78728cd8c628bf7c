"""The inventory schema migrated on the real PostgreSQL server, and the service wired to it."""

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from inventory_service.db import create_db_engine, session_factory
from inventory_service.settings import Settings
from inventory_service.tables import outbox
from inventory_service.unit_of_work import SqlUnitOfWork
from shared_events import EVENT_REGISTRY, Envelope, Event
from shared_events.runtime.migrations import upgrade

ROLE = "inventory_service"


@pytest.fixture(scope="session")
def inventory_settings(infra: Any) -> Settings:
    """Settings pointing at the test infrastructure, as the service's own role."""
    return Settings(
        db_host=infra.pg_host,
        db_port=infra.pg_port,
        db_name=infra.pg_database,
        db_user=ROLE,
        db_password=infra.role_password(ROLE),
        kafka_bootstrap_servers=infra.kafka_bootstrap,
    )


@pytest.fixture(scope="session")
def engine(inventory_settings: Settings) -> Iterator[Engine]:
    """An engine on the migrated schema; unsent outbox rows the tests wrote are dropped after.

    The stack is shared, so the tests' events must never reach a real relay's topics.
    """
    engine = create_db_engine(inventory_settings.database_url, pool_size=20, max_overflow=40)
    upgrade("inventory_service", engine)
    started = datetime.now(UTC)
    yield engine
    with engine.begin() as conn:
        conn.execute(
            delete(outbox).where(outbox.c.sent_at.is_(None), outbox.c.created_at >= started)
        )
    engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def sql_uow(sessions: sessionmaker[Session]) -> Callable[[], SqlUnitOfWork]:
    """A fresh SQL unit of work per call, each owning its transaction."""
    return lambda: SqlUnitOfWork(sessions)


@pytest.fixture
def sku() -> Callable[[str], str]:
    """Unique skus per test: the schema is shared with other test runs and manual runs."""
    run = uuid.uuid4().hex[:8]
    return lambda name: f"{name}-{run}"


def outbox_events(engine: Engine, key: str) -> list[Envelope[Event]]:
    """The envelopes staged in the outbox under one key (order id or sku), in outbox order."""
    query = select(outbox.c.value).where(outbox.c.key == key.encode()).order_by(outbox.c.id)
    with engine.connect() as conn:
        rows = conn.execute(query).scalars().all()
    return [EVENT_REGISTRY.parse_envelope(orjson.loads(value)) for value in rows]


@pytest.fixture
def staged() -> Callable[..., list[Envelope[Event]]]:
    return outbox_events
