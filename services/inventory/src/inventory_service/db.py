"""The SQL repositories and unit of work over the `inventory` schema."""

import json
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, Text, any_, cast, create_engine, func, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import URL, RowMapping
from sqlalchemy.orm import Session, sessionmaker

from inventory_service.domain import (
    Line,
    Order,
    Product,
    ProductExists,
    Reservation,
    ReservationStatus,
    ReservationView,
    StockState,
)
from inventory_service.tables import orders, products, reservations
from shared_events.kafka.rows import array, unnest


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

    def lock_page(self, after: str | None, limit: int) -> Sequence[Product]:
        """Up to `limit` products after sku `after`, by sku, share-locked until the commit;
        the events they record go out with it."""
        query = select(products).order_by(products.c.sku).limit(limit)
        if after is not None:
            query = query.where(products.c.sku > after)
        # FOR SHARE: a PUT (FOR UPDATE) of one of them waits for our commit, so the state we
        # publish is current and any later change is published after it.
        page = [
            _product(row)
            for row in self.session.execute(query.with_for_update(read=True)).mappings()
        ]
        for product in page:
            self._seen(product)
        return page

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
        self.save_many([product])

    def save_many(self, changed: Iterable[Product]) -> None:
        unique = list({id(product): product for product in changed}.values())
        if not unique:
            return
        rows = unnest(
            products,
            sku=[p.sku for p in unique],
            name=[p.name for p in unique],
            price_cents=[p.price_cents for p in unique],
            available=[p.available for p in unique],
            reserved=[p.reserved for p in unique],
        )
        self.session.execute(
            update(products)
            .where(products.c.sku == rows.c.sku)
            .values(
                name=rows.c.name,
                price_cents=rows.c.price_cents,
                available=rows.c.available,
                reserved=rows.c.reserved,
                updated_at=func.now(),
            )
        )
        for product in unique:
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
        return self.lock_many([order_id])[0]

    def lock_many(self, order_ids: Sequence[UUID]) -> list[Order]:
        """The orders (created on first sight), locked in id order; returned in the given order."""
        # Events of one order may arrive on either topic first: create the rows unseen yet.
        ids = array(order_ids, orders.c.order_id.type)
        self.session.execute(
            pg_insert(orders)
            .from_select(["order_id"], select(func.unnest(ids)))
            .on_conflict_do_nothing()
        )
        rows = self.session.execute(
            select(orders)
            .where(orders.c.order_id == any_(ids))
            .order_by(orders.c.order_id)
            .with_for_update()
        ).mappings()
        found = {row["order_id"]: row for row in rows}
        held: dict[UUID, list[Reservation]] = {order_id: [] for order_id in order_ids}
        for r in self.session.execute(
            select(reservations)
            .where(reservations.c.order_id == any_(ids))
            .order_by(reservations.c.order_id, reservations.c.sku)
        ).mappings():
            held[r["order_id"]].append(
                Reservation(r["sku"], r["quantity"], ReservationStatus(r["status"]))
            )
        return [_order(found[order_id], held[order_id]) for order_id in order_ids]

    def save(self, order: Order) -> None:
        self.save_many([order])

    def save_many(self, changed: Sequence[Order]) -> None:
        if not changed:
            return
        rows = unnest(
            orders,
            types={"items": Text()},
            order_id=[o.order_id for o in changed],
            items=[_items_json(o) for o in changed],
            paid=[o.paid for o in changed],
            cancelled=[o.cancelled for o in changed],
            stock=[o.stock.value for o in changed],
        )
        self.session.execute(
            update(orders)
            .where(orders.c.order_id == rows.c.order_id)
            .values(
                items=cast(rows.c["items"], JSONB),
                paid=rows.c.paid,
                cancelled=rows.c.cancelled,
                stock=rows.c.stock,
                updated_at=func.now(),
            )
        )
        held = [(o.order_id, r) for o in changed for r in o.reservations]
        if held:
            lines = unnest(
                reservations,
                order_id=[order_id for order_id, _ in held],
                sku=[r.sku for _, r in held],
                quantity=[r.quantity for _, r in held],
                status=[r.status.value for _, r in held],
            )
            statement = pg_insert(reservations).from_select(list(lines.c.keys()), select(lines))
            self.session.execute(
                statement.on_conflict_do_update(
                    constraint="pk_reservations",
                    set_={"status": statement.excluded.status, "updated_at": func.now()},
                    where=reservations.c.status != statement.excluded.status,
                )
            )
        for order in changed:
            if not any(o is order for o in self.seen):
                self.seen.append(order)

    def reservations(self, order_id: UUID) -> list[ReservationView]:
        query = (
            select(reservations)
            .where(reservations.c.order_id == order_id)
            .order_by(reservations.c.sku)
        )
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


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on the service's engine; objects are not expired at commit (none are mapped)."""
    return sessionmaker(engine, expire_on_commit=False)


def _order(row: RowMapping, held: list[Reservation]) -> Order:
    return Order(
        order_id=row["order_id"],
        items=None
        if row["items"] is None
        else tuple(Line(item["sku"], item["quantity"]) for item in row["items"]),
        paid=row["paid"],
        cancelled=row["cancelled"],
        stock=StockState(row["stock"]),
        reservations=held,
    )


def _items_json(order: Order) -> str | None:
    if order.items is None:
        return None
    return json.dumps([{"sku": line.sku, "quantity": line.quantity} for line in order.items])


def _product(row: RowMapping) -> Product:
    return Product(
        sku=row["sku"],
        name=row["name"],
        price_cents=row["price_cents"],
        available=row["available"],
        reserved=row["reserved"],
    )
