"""Real Postgres for the payment service's integration tests.

The database is the `infra` fixture's: the workspace's stack (saga_infra's plugin), or the
one the environment names when the service is tested on its own (shared_events.testing).
Tests use fresh customer and order ids instead of emptying tables, so they can share a schema
with other runs.
"""

from collections.abc import Iterator
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine, create_engine, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from payment_service.consumer import HANDLERS
from payment_service.domain import LedgerEntry, LedgerSummary
from payment_service.handlers import (
    OpenAccount,
    get_account,
    ledger_summary,
    list_payments,
    open_account,
)
from payment_service.tables import outbox, processed_events
from payment_service.unit_of_work import SqlUnitOfWork
from shared_events import (
    CancelReason,
    Envelope,
    Event,
    OrderCancelled,
    OrderCreated,
    OrderLine,
    new_envelope,
)
from shared_events.kafka import decode
from shared_events.kafka.consuming.inbox import apply_batch, apply_once
from shared_events.runtime.migrations import upgrade
from shared_events.testing.infra import Infra

ROLE = "payment_service"
GROUP = "payment-service"


@pytest.fixture(scope="session")
def payment_db_url(infra: Infra) -> str:
    return infra.sqlalchemy_url(ROLE)


@pytest.fixture(scope="session")
def payment_engine(payment_db_url: str) -> Iterator[Engine]:
    engine = create_engine(payment_db_url, pool_size=30, max_overflow=10)
    upgrade("payment_service", engine)
    with engine.connect() as connection:
        watermark = connection.scalar(select(func.coalesce(func.max(outbox.c.id), 0)))
    yield engine
    # The tests' events are for nobody: keep them away from a relay on the shared stack.
    with engine.begin() as connection:
        connection.execute(
            delete(outbox).where(outbox.c.id > watermark, outbox.c.sent_at.is_(None))
        )
    engine.dispose()


@pytest.fixture
def session_factory(payment_engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(payment_engine)


class PaymentDriver:
    """Drives the service as Kafka would (through the EventConsumer's `apply_batch`) and
    reads what it did; fresh ids every time, so tests never see each other's data."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def open_account(self, balance: int) -> str:
        customer = f"customer-{uuid4()}"
        open_account(OpenAccount(customer, balance), SqlUnitOfWork(self.factory))
        return customer

    def balance(self, customer: str) -> int:
        return get_account(customer, SqlUnitOfWork(self.factory)).balance_cents

    def payments(self, order_id: UUID) -> list[LedgerEntry]:
        return list_payments(order_id, SqlUnitOfWork(self.factory))

    def summary(self) -> LedgerSummary:
        return ledger_summary(SqlUnitOfWork(self.factory))

    @staticmethod
    def created(order_id: UUID, customer_id: str, total: int) -> Envelope[Event]:
        line = OrderLine(sku="sku-1", quantity=1, unit_price_cents=total)
        event = OrderCreated(
            order_id=order_id,
            customer_id=customer_id,
            items=(line,),
            total_cents=total,
            currency="EUR",
        )
        return new_envelope(event, producer="order")

    @staticmethod
    def cancelled(order_id: UUID) -> Envelope[Event]:
        event = OrderCancelled(order_id=order_id, reason=CancelReason.CUSTOMER_CANCELLED)
        return new_envelope(event, producer="order")

    def deliver(self, envelope: Envelope[Event]) -> bool:
        """Apply one event as the consumer does; False when it was already processed."""
        return apply_once(self.factory, processed_events, GROUP, envelope, HANDLERS)

    def deliver_batch(self, envelopes: list[Envelope[Event]]) -> list[Envelope[Event]]:
        """Apply events in one transaction as the consumer does; returns those not seen before."""
        return apply_batch(self.factory, processed_events, GROUP, envelopes, HANDLERS)

    def published(self, order_id: UUID) -> list[Envelope[Event]]:
        """The events the outbox holds for an order, in publication order."""
        with self.factory() as session:
            rows = session.execute(
                select(outbox.c.value)
                .where(outbox.c.key == str(order_id).encode())
                .order_by(outbox.c.id)
            )
            return [decode(row.value) for row in rows]


@pytest.fixture
def driver(session_factory: sessionmaker[Session]) -> PaymentDriver:
    return PaymentDriver(session_factory)
