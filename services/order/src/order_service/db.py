"""Repositories over the `orders` schema and the SQL unit of work that commits them."""

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol, Self
from uuid import UUID

from sqlalchemy import Row, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from order_service.domain import CatalogEntry, HistoryEntry, Order, OrderItem, OrderStatus
from order_service.handlers import IdempotencyRecord
from order_service.tables import catalog, idempotency_keys, order_history, order_items, orders
from shared_events import CancelReason, Envelope, Event


class SqlOrderRepository:
    """Orders with their items and history; remembers the orders it handed out."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._seen: dict[UUID, Order] = {}

    def add(self, order: Order) -> None:
        self._session.execute(
            orders.insert().values(
                order_id=order.order_id,
                customer_id=order.customer_id,
                status=order.status.value,
                cancel_reason=None,
                currency=order.currency,
                total_cents=order.total_cents,
                created_at=order.created_at,
                updated_at=order.updated_at,
            )
        )
        self._session.execute(
            order_items.insert(),
            [
                {"order_id": order.order_id, "line_no": n, "sku": i.sku, "quantity": i.quantity}
                | {"unit_price_cents": i.unit_price_cents}
                for n, i in enumerate(order.items)
            ],
        )
        self._add_history(order)
        self._seen[order.order_id] = order

    def get(self, order_id: UUID, *, for_update: bool = False) -> Order | None:
        query = select(orders).where(orders.c.order_id == order_id)
        if for_update:
            query = query.with_for_update()
        found = self._load(self._session.execute(query).all())
        if not found:
            return None
        self._seen[order_id] = found[0]
        return found[0]

    def save(self, order: Order) -> None:
        self._session.execute(
            update(orders)
            .where(orders.c.order_id == order.order_id)
            .values(
                status=order.status.value,
                cancel_reason=order.cancel_reason.value if order.cancel_reason else None,
                updated_at=order.updated_at,
            )
        )
        self._add_history(order)

    def find(
        self, *, customer_id: str | None, status: OrderStatus | None, limit: int
    ) -> list[Order]:
        query = select(orders).order_by(orders.c.created_at.desc(), orders.c.order_id).limit(limit)
        if customer_id is not None:
            query = query.where(orders.c.customer_id == customer_id)
        if status is not None:
            query = query.where(orders.c.status == status.value)
        return self._load(self._session.execute(query).all())

    def seen(self) -> list[Order]:
        return list(self._seen.values())

    def _add_history(self, order: Order) -> None:
        rows = [{"order_id": order.order_id, **_history_row(entry)} for entry in order.history]
        if not rows:
            return
        # History is append-only: entries already stored are skipped by their unique key.
        statement = insert(order_history).on_conflict_do_nothing(
            index_elements=[order_history.c.order_id, order_history.c.event_id]
        )
        self._session.execute(statement, rows)

    def _load(self, rows: Sequence[Row[Any]]) -> list[Order]:
        ids = [row.order_id for row in rows]
        items: dict[UUID, list[OrderItem]] = {i: [] for i in ids}
        history: dict[UUID, list[HistoryEntry]] = {i: [] for i in ids}
        if ids:
            item_rows = self._session.execute(
                select(order_items)
                .where(order_items.c.order_id.in_(ids))
                .order_by(order_items.c.order_id, order_items.c.line_no)
            )
            for r in item_rows:
                items[r.order_id].append(OrderItem(r.sku, r.quantity, r.unit_price_cents))
            history_rows = self._session.execute(
                select(order_history)
                .where(order_history.c.order_id.in_(ids))
                .order_by(order_history.c.seq)
            )
            for r in history_rows:
                entry = HistoryEntry(r.event_type, r.event_id, r.occurred_at, r.service)
                history[r.order_id].append(entry)
        return [
            Order(
                order_id=row.order_id,
                customer_id=row.customer_id,
                items=tuple(items[row.order_id]),
                currency=row.currency,
                status=OrderStatus(row.status),
                cancel_reason=CancelReason(row.cancel_reason) if row.cancel_reason else None,
                created_at=row.created_at,
                updated_at=row.updated_at,
                history=history[row.order_id],
            )
            for row in rows
        ]


def _history_row(entry: HistoryEntry) -> dict[str, object]:
    return {
        "event_id": entry.event_id,
        "event_type": entry.event_type,
        "occurred_at": entry.occurred_at,
        "service": entry.service,
    }


class SqlCatalogRepository:
    """The local copy of the product catalog."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, sku: str) -> CatalogEntry | None:
        return self.get_many({sku}).get(sku)

    def get_many(self, skus: Iterable[str]) -> dict[str, CatalogEntry]:
        rows = self._session.execute(select(catalog).where(catalog.c.sku.in_(list(skus))))
        return {r.sku: CatalogEntry(r.sku, r.name, r.price_cents, r.updated_at) for r in rows}

    def upsert(self, entry: CatalogEntry) -> bool:
        values = {"sku": entry.sku, "name": entry.name, "price_cents": entry.price_cents}
        new = insert(catalog).values(**values, updated_at=entry.updated_at)
        # Same rule as CatalogEntry.supersedes, as one atomic statement: only newer wins.
        upsert = new.on_conflict_do_update(
            index_elements=[catalog.c.sku],
            set_={column: new.excluded[column] for column in (*values, "updated_at")},
            where=catalog.c.updated_at < new.excluded.updated_at,
        ).returning(catalog.c.sku)
        return self._session.execute(upsert).first() is not None


class SqlIdempotencyKeyRepository:
    """Idempotency-Key -> the request it was first used for and the order it created."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        # ON CONFLICT waits for a concurrent claimer of the same key to finish: if it
        # committed we get its row, if it rolled back the key is ours.
        inserted = self._session.execute(
            insert(idempotency_keys)
            .values(
                key=record.key,
                fingerprint=record.fingerprint,
                order_id=record.order_id,
                created_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing(index_elements=[idempotency_keys.c.key])
            .returning(idempotency_keys.c.key)
        ).first()
        if inserted is not None:
            return None
        row = self._session.execute(
            select(idempotency_keys).where(idempotency_keys.c.key == record.key)
        ).one()
        return IdempotencyRecord(row.key, row.fingerprint, row.order_id)


class OutboxWriter(Protocol):
    """Adds an encoded event to the outbox inside the caller's transaction."""

    def add(self, session: Session, envelope: Envelope[Event]) -> object: ...


class SqlUnitOfWork:
    """One transaction: its own (HTTP) or a session it rides on (consumed events).

    `commit()` writes the events recorded by the orders it loaded to the outbox, then
    commits only when it owns the transaction; a ridden session is the runner's to commit.
    """

    orders: SqlOrderRepository
    catalog: SqlCatalogRepository
    idempotency_keys: SqlIdempotencyKeyRepository

    def __init__(
        self,
        outbox: OutboxWriter,
        session_factory: Callable[[], Session],
        *,
        owns_transaction: bool = True,
    ) -> None:
        self._outbox = outbox
        self._open = session_factory
        self._owns_transaction = owns_transaction

    @classmethod
    def riding(cls, session: Session, outbox: OutboxWriter) -> Self:
        """A unit of work inside a transaction someone else commits (the event consumer)."""
        return cls(outbox, lambda: session, owns_transaction=False)

    def __enter__(self) -> Self:
        self.session = self._open()
        self.orders = SqlOrderRepository(self.session)
        self.catalog = SqlCatalogRepository(self.session)
        self.idempotency_keys = SqlIdempotencyKeyRepository(self.session)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._owns_transaction:
            self.session.rollback()  # a no-op after commit; undoes anything uncommitted
            self.session.close()

    def commit(self) -> None:
        for order in self.orders.seen():
            for event in order.pending_events:
                self._outbox.add(self.session, event)
            order.pending_events.clear()
        if self._owns_transaction:
            self.session.commit()
        else:
            self.session.flush()
