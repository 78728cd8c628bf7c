"""Repositories over the `orders` schema.

Statements are set-based: N orders load with one statement per table and save with one
UPDATE and one INSERT, whatever N is; rows travel as one array parameter per column
(`unnest`), so each statement's text, and the server's plan for it, stays the same.
"""

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Row, any_, func, literal, select, update
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.orm import Session

from order_service.domain import (
    TERMINAL,
    CatalogEntry,
    HistoryEntry,
    IdempotencyRecord,
    Order,
    OrderItem,
    OrderStatus,
)
from order_service.tables import catalog, idempotency_keys, order_history, order_items, orders
from shared_events import CancelReason
from shared_events.kafka.rows import array, unnest

_OPEN = [status.value for status in OrderStatus if status not in TERMINAL]
"""Statuses of an order whose saga is not over."""


def orders_by_status(conn: Connection) -> tuple[dict[str, int], float]:
    """Orders per status, and the age in seconds of the oldest one not yet terminal (0: none)."""
    counts = {
        str(status): int(count)
        for status, count in conn.execute(
            select(orders.c.status, func.count()).group_by(orders.c.status)
        )
    }
    oldest = conn.execute(
        select(
            func.coalesce(func.extract("epoch", func.now() - func.min(orders.c.created_at)), 0)
        ).where(orders.c.status.in_(_OPEN))
    ).scalar_one()
    return counts, max(0.0, float(oldest))


class SqlOrderRepository:
    """Orders with their items and history; remembers the orders it handed out."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._seen: dict[UUID, Order] = {}
        self._new: dict[UUID, Order] = {}
        self._changed: dict[UUID, Order] = {}
        self._stored_history: dict[UUID, int] = {}
        """Order -> how many of its history entries (a prefix: history only grows) are stored."""

    def add(self, order: Order) -> None:
        """Take a new order: written with its items and history at `persist`."""
        self._new[order.order_id] = self._seen[order.order_id] = order

    def get(self, order_id: UUID, *, for_update: bool = False) -> Order | None:
        return self.get_many([order_id], for_update=for_update).get(order_id)

    def get_many(self, order_ids: Sequence[UUID], *, for_update: bool = False) -> dict[UUID, Order]:
        """The orders that exist among `order_ids`; `for_update` locks them, in id order."""
        ids = list(dict.fromkeys(order_ids))
        query = (
            select(orders)
            .where(orders.c.order_id == any_(array(ids, orders.c.order_id.type)))
            .order_by(orders.c.order_id)
        )
        if for_update:
            query = query.with_for_update()
        found = {order.order_id: order for order in self._load(self._session.execute(query).all())}
        self._seen.update(found)
        return found

    def save(self, order: Order) -> None:
        self.save_many([order])

    def save_many(self, changed: Sequence[Order]) -> None:
        """Take changed orders: their status and new history entries are written at `persist`."""
        self._changed.update((order.order_id, order) for order in changed)

    def persist(self) -> None:
        """Write the orders taken since the last call: one INSERT per new order, then the
        status of the changed ones and their history entries not stored yet (two statements)."""
        new = list(self._new.values())
        changed = [o for i, o in self._changed.items() if i not in self._new]
        self._new, self._changed = {}, {}
        for order in new:
            self._insert(order)
        if changed:
            self._update(changed)

    def _update(self, changed: Sequence[Order]) -> None:
        values = unnest(
            orders,
            order_id=[order.order_id for order in changed],
            status=[order.status.value for order in changed],
            cancel_reason=[o.cancel_reason.value if o.cancel_reason else None for o in changed],
            updated_at=[order.updated_at for order in changed],
        )
        self._session.execute(
            update(orders)
            .where(orders.c.order_id == values.c.order_id)
            .values(
                status=values.c.status,
                cancel_reason=values.c.cancel_reason,
                updated_at=values.c.updated_at,
            )
        )
        new_history = [
            (order.order_id, entry)
            for order in changed
            for entry in order.history[self._stored_history.get(order.order_id, 0) :]
        ]
        if new_history:
            self._session.execute(_insert_history(new_history))
        for order in changed:
            self._stored_history[order.order_id] = len(order.history)

    def _insert(self, order: Order) -> None:
        """Insert a new order, its items and its history in one statement."""
        new_order = (
            insert(orders)
            .values(
                order_id=order.order_id,
                customer_id=order.customer_id,
                status=order.status.value,
                cancel_reason=None,
                currency=order.currency,
                total_cents=order.total_cents,
                created_at=order.created_at,
                updated_at=order.updated_at,
            )
            .cte("new_order")
        )
        lines = unnest(
            order_items,
            line_no=list(range(len(order.items))),
            sku=[item.sku for item in order.items],
            quantity=[item.quantity for item in order.items],
            unit_price_cents=[item.unit_price_cents for item in order.items],
        )
        new_items = (
            insert(order_items)
            .from_select(
                ["order_id", *lines.c.keys()],
                select(literal(order.order_id, order_items.c.order_id.type), lines),
            )
            .cte("new_items")
        )
        # The foreign keys are checked at the end of the statement, so all three go together.
        self._session.execute(
            _insert_history([(order.order_id, entry) for entry in order.history]).add_cte(
                new_order, new_items
            )
        )
        self._stored_history[order.order_id] = len(order.history)

    def claim_overdue(self, placed_before: datetime, *, limit: int) -> list[Order]:
        """Lock up to `limit` open orders placed before `placed_before`, oldest first.

        Rows another transaction holds are skipped (SKIP LOCKED), so concurrent claimers
        share the backlog instead of queueing on it. The status condition holds under the
        lock: PostgreSQL re-checks it on the newest row version before locking, so an order
        confirmed meanwhile is not claimed, and none is confirmed while we hold it (every
        writer locks its orders FOR UPDATE first).
        """
        query = (
            select(orders)
            .where(orders.c.status.in_(_OPEN), orders.c.created_at < placed_before)
            .order_by(orders.c.created_at, orders.c.order_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed = self._load(self._session.execute(query).all())
        self._seen.update((order.order_id, order) for order in claimed)
        return claimed

    def find(
        self,
        *,
        customer_id: str | None,
        status: OrderStatus | None,
        limit: int,
        stuck_before: datetime | None = None,
    ) -> list[Order]:
        """Newest first; `stuck_before`: only open orders placed before it."""
        query = select(orders).order_by(orders.c.created_at.desc(), orders.c.order_id).limit(limit)
        if customer_id is not None:
            query = query.where(orders.c.customer_id == customer_id)
        if status is not None:
            query = query.where(orders.c.status == status.value)
        if stuck_before is not None:
            query = query.where(orders.c.status.in_(_OPEN), orders.c.created_at < stuck_before)
        return self._load(self._session.execute(query).all())

    def seen(self) -> list[Order]:
        return list(self._seen.values())

    def _load(self, rows: Sequence[Row[Any]]) -> list[Order]:
        ids = [row.order_id for row in rows]
        items: dict[UUID, list[OrderItem]] = {i: [] for i in ids}
        history: dict[UUID, list[HistoryEntry]] = {i: [] for i in ids}
        if ids:
            any_id = any_(array(ids, orders.c.order_id.type))
            item_rows = self._session.execute(
                select(order_items)
                .where(order_items.c.order_id == any_id)
                .order_by(order_items.c.order_id, order_items.c.line_no)
            )
            for r in item_rows:
                items[r.order_id].append(OrderItem(r.sku, r.quantity, r.unit_price_cents))
            history_rows = self._session.execute(
                select(order_history)
                .where(order_history.c.order_id == any_id)
                .order_by(order_history.c.seq)
            )
            for r in history_rows:
                entry = HistoryEntry(r.event_type, r.event_id, r.occurred_at, r.service)
                history[r.order_id].append(entry)
        for order_id, entries in history.items():
            self._stored_history[order_id] = len(entries)
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


def _insert_history(entries: Sequence[tuple[UUID, HistoryEntry]]) -> Insert:
    """One INSERT of history rows; entries already stored are skipped by their unique key."""
    rows = unnest(
        order_history,
        order_id=[order_id for order_id, _ in entries],
        event_id=[entry.event_id for _, entry in entries],
        event_type=[entry.event_type for _, entry in entries],
        occurred_at=[entry.occurred_at for _, entry in entries],
        service=[entry.service for _, entry in entries],
    )
    # unnest yields the arrays in order, so `seq` numbers the entries as the order recorded them.
    return (
        insert(order_history)
        .from_select(list(rows.c.keys()), select(rows))
        .on_conflict_do_nothing(index_elements=[order_history.c.order_id, order_history.c.event_id])
    )


class SqlCatalogRepository:
    """The local copy of the product catalog."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, sku: str) -> CatalogEntry | None:
        return self.get_many({sku}).get(sku)

    def get_many(self, skus: Iterable[str]) -> dict[str, CatalogEntry]:
        wanted = array(sorted(skus), catalog.c.sku.type)
        rows = self._session.execute(select(catalog).where(catalog.c.sku == any_(wanted)))
        return {r.sku: CatalogEntry(r.sku, r.name, r.price_cents, r.updated_at) for r in rows}

    def upsert(self, entry: CatalogEntry) -> bool:
        return entry.sku in self.upsert_many([entry])

    def upsert_many(self, entries: Sequence[CatalogEntry]) -> set[str]:
        """Store each entry newer than the stored one (one statement); returns their skus."""
        newest: dict[str, CatalogEntry] = {}
        for entry in entries:
            # One statement may not touch a row twice: the newest entry of a sku goes.
            if entry.supersedes(newest.get(entry.sku)):
                newest[entry.sku] = entry
        if not newest:
            return set()
        rows = unnest(
            catalog,
            sku=list(newest),
            name=[entry.name for entry in newest.values()],
            price_cents=[entry.price_cents for entry in newest.values()],
            updated_at=[entry.updated_at for entry in newest.values()],
        )
        new = insert(catalog).from_select(list(rows.c.keys()), select(rows))
        # Same rule as CatalogEntry.supersedes, as one atomic statement: only newer wins.
        upsert = new.on_conflict_do_update(
            index_elements=[catalog.c.sku],
            set_={name: new.excluded[name] for name in ("name", "price_cents", "updated_at")},
            where=catalog.c.updated_at < new.excluded.updated_at,
        ).returning(catalog.c.sku)
        return set(self._session.scalars(upsert))


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
