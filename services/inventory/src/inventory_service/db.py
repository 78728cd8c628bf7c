"""The SQL repositories and unit of work over the `inventory` schema."""

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from sqlalchemy import Engine, create_engine, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import URL, RowMapping
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from inventory_service import SERVICE
from inventory_service.domain import (
    Line,
    Order,
    Product,
    Reservation,
    ReservationStatus,
    StockState,
)
from inventory_service.handlers import ProductExists, ReservationView
from inventory_service.tables import orders, outbox, products, reservations
from shared_events import Envelope, Event, follow_up, new_envelope
from shared_events.kafka.outbox import Outbox


def create_db_engine(url: URL, **options: Any) -> Engine:
    """An engine for the service's role; connections are checked before use."""
    return create_engine(url, pool_pre_ping=True, **options)


class SqlProductRepository:
    """Products in `inventory.products`."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[Product] = []

    def get(self, sku: str) -> Product | None:
        row = self.session.execute(select(products).where(products.c.sku == sku)).mappings()
        found = row.one_or_none()
        return _product(found) if found is not None else None

    def list(self) -> list[Product]:
        rows = self.session.execute(select(products).order_by(products.c.sku)).mappings()
        return [_product(row) for row in rows]

    def lock(self, skus: Iterable[str]) -> dict[str, Product]:
        wanted = sorted(set(skus))
        if not wanted:
            return {}
        # One lock order (by sku) for every locker, so two reservations never deadlock.
        query = (
            select(products).where(products.c.sku.in_(wanted)).order_by(products.c.sku)
        ).with_for_update()
        return {row["sku"]: _product(row) for row in self.session.execute(query).mappings()}

    def add(self, product: Product) -> None:
        inserted = self.session.execute(
            pg_insert(products)
            .values(
                sku=product.sku,
                name=product.name,
                price_cents=product.price_cents,
                available=product.available,
                reserved=product.reserved,
            )
            .on_conflict_do_nothing(index_elements=[products.c.sku])
            .returning(products.c.sku)
        ).first()
        if inserted is None:
            raise ProductExists(product.sku)
        self._seen(product)

    def save(self, product: Product) -> None:
        self.session.execute(
            update(products)
            .where(products.c.sku == product.sku)
            .values(
                name=product.name,
                price_cents=product.price_cents,
                available=product.available,
                reserved=product.reserved,
                updated_at=func.now(),
            )
        )
        self._seen(product)

    def _seen(self, product: Product) -> None:
        if not any(p is product for p in self.seen):
            self.seen.append(product)


class SqlOrderRepository:
    """Inventory's record of each order in `inventory.orders` and `inventory.reservations`."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[Order] = []

    def lock(self, order_id: UUID) -> Order:
        # Created on first sight: events of one order may arrive on either topic first.
        self.session.execute(pg_insert(orders).values(order_id=order_id).on_conflict_do_nothing())
        row = (
            self.session.execute(
                select(orders).where(orders.c.order_id == order_id).with_for_update()
            )
            .mappings()
            .one()
        )
        held = self.session.execute(
            select(reservations)
            .where(reservations.c.order_id == order_id)
            .order_by(reservations.c.sku)
        ).mappings()
        return Order(
            order_id=order_id,
            items=None
            if row["items"] is None
            else tuple(Line(item["sku"], item["quantity"]) for item in row["items"]),
            paid=row["paid"],
            cancelled=row["cancelled"],
            stock=StockState(row["stock"]),
            reservations=[
                Reservation(r["sku"], r["quantity"], ReservationStatus(r["status"])) for r in held
            ],
        )

    def save(self, order: Order) -> None:
        items = (
            None
            if order.items is None
            else [{"sku": line.sku, "quantity": line.quantity} for line in order.items]
        )
        self.session.execute(
            update(orders)
            .where(orders.c.order_id == order.order_id)
            .values(
                items=items,
                paid=order.paid,
                cancelled=order.cancelled,
                stock=order.stock.value,
                updated_at=func.now(),
            )
        )
        for reservation in order.reservations:
            statement = pg_insert(reservations).values(
                order_id=order.order_id,
                sku=reservation.sku,
                quantity=reservation.quantity,
                status=reservation.status.value,
            )
            self.session.execute(
                statement.on_conflict_do_update(
                    constraint="pk_reservations",
                    set_={"status": statement.excluded.status, "updated_at": func.now()},
                    where=reservations.c.status != statement.excluded.status,
                )
            )
        if not any(o is order for o in self.seen):
            self.seen.append(order)

    def reservations(self, order_id: UUID | None = None) -> list[ReservationView]:
        query = select(reservations).order_by(reservations.c.order_id, reservations.c.sku)
        if order_id is not None:
            query = query.where(reservations.c.order_id == order_id)
        return [
            ReservationView(
                order_id=row["order_id"],
                sku=row["sku"],
                quantity=row["quantity"],
                status=ReservationStatus(row["status"]),
                created_at=row["created_at"],
                updated_at=row["updated_at"],
            )
            for row in self.session.execute(query).mappings()
        ]


class SqlUnitOfWork:
    """Owns a transaction (HTTP), or rides on an event consumer's session in a savepoint.

    Either way `commit()` stages the events the aggregates recorded in the outbox, in
    the same transaction as the state change; only an owned transaction really commits.
    """

    def __init__(
        self,
        session_factory: Callable[[], Session] | None = None,
        *,
        session: Session | None = None,
        cause: Envelope[Event] | None = None,
    ) -> None:
        if (session_factory is None) == (session is None):
            raise ValueError("give either a session factory or a session")
        self._factory, self._given, self._cause = session_factory, session, cause
        self._outbox = Outbox(outbox)
        self._tx: SessionTransaction | None = None

    @classmethod
    def riding(cls, session: Session, cause: Envelope[Event]) -> Self:
        """A unit of work inside a consumer's transaction, its events following `cause`."""
        return cls(session=session, cause=cause)

    def __enter__(self) -> Self:
        if self._given is not None:
            self.session = self._given
            self._tx = self.session.begin_nested()
        else:
            assert self._factory is not None
            self.session = self._factory()
            self._tx = self.session.begin()
        self.products = SqlProductRepository(self.session)
        self.orders = SqlOrderRepository(self.session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tx is not None and self._tx.is_active:
            self._tx.rollback()
        if self._given is None:
            self.session.close()

    def commit(self) -> None:
        """Stage the recorded events in the outbox, then commit (or release the savepoint)."""
        aggregates: list[Product | Order] = [*self.products.seen, *self.orders.seen]
        for aggregate in aggregates:
            for event in aggregate.events:
                envelope = self._envelope(event)
                self._outbox.add(self.session, envelope)
            aggregate.events.clear()
        assert self._tx is not None
        self._tx.commit()

    def _envelope(self, event: Event) -> Envelope[Event]:
        if self._cause is not None:
            return follow_up(self._cause, event, producer=SERVICE)
        return new_envelope(event, producer=SERVICE)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on the service's engine; objects are not expired at commit (none are mapped)."""
    return sessionmaker(engine, expire_on_commit=False)


def _product(row: RowMapping) -> Product:
    return Product(
        sku=row["sku"],
        name=row["name"],
        price_cents=row["price_cents"],
        available=row["available"],
        reserved=row["reserved"],
    )
