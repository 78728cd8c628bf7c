"""The inventory service's unit of work: one transaction over its repositories and outbox."""

from collections.abc import Iterable

from sqlalchemy.orm import Session

from inventory_service import SERVICE, tables
from inventory_service.db import SqlOrderRepository, SqlProductRepository
from inventory_service.domain import Order, Product
from shared_events.runtime.unit_of_work import SessionUnitOfWork


class SqlUnitOfWork(SessionUnitOfWork[Product | Order]):
    """Products and inventory's record of orders; both write as they are saved."""

    service = SERVICE
    outbox = tables.outbox

    products: SqlProductRepository
    orders: SqlOrderRepository

    def _start(self, session: Session) -> None:
        self.products = SqlProductRepository(session)
        self.orders = SqlOrderRepository(session)

    def _aggregates(self) -> Iterable[Product | Order]:
        return [*self.products.seen, *self.orders.seen]
