"""The payment service's unit of work: one transaction over its repositories and outbox."""

from collections.abc import Iterable

from sqlalchemy.orm import Session

from payment_service import SERVICE, tables
from payment_service.db import SqlAccounts, SqlOrders
from payment_service.domain import OrderPayment
from shared_events.runtime.unit_of_work import SessionUnitOfWork


class SqlUnitOfWork(SessionUnitOfWork[OrderPayment]):
    """Accounts and order payments; both write at commit (balances move by one statement)."""

    service = SERVICE
    outbox = tables.outbox

    accounts: SqlAccounts
    orders: SqlOrders

    def _start(self, session: Session) -> None:
        self.accounts = SqlAccounts(session)
        self.orders = SqlOrders(session)

    def _aggregates(self) -> Iterable[OrderPayment]:
        return self.orders.seen.values()

    def _persist(self) -> None:
        self.accounts.persist()
        self.orders.persist()
