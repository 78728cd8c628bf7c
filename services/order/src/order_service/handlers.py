"""One function per command or consumed event: `(command, uow) -> result`.

Each handler opens `with uow:`, loads what it needs (order rows locked), lets the domain
decide, and commits once; the unit of work writes the events the orders recorded to the
outbox in that same transaction.
"""

import hashlib
import json
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID, uuid4

import structlog

from order_service.domain import CatalogEntry, Order, OrderStatus, price_items
from shared_events import (
    DEFAULT_CURRENCY,
    CancelReason,
    Envelope,
    InventoryFailed,
    ItemsReleased,
    ItemsReserved,
    PaymentFailed,
    PaymentProcessed,
    PaymentRefunded,
    ProductUpserted,
    SagaEvent,
)

log = structlog.get_logger(__name__)


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key was already used for a different request body."""


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """An Idempotency-Key, the request it was first used for, and the order it created."""

    key: str
    fingerprint: str
    order_id: UUID


class OrderRepository(Protocol):
    def add(self, order: Order) -> None: ...
    def get(self, order_id: UUID, *, for_update: bool = False) -> Order | None: ...
    def save(self, order: Order) -> None: ...
    def find(
        self, *, customer_id: str | None, status: OrderStatus | None, limit: int
    ) -> list[Order]: ...
    def seen(self) -> list[Order]: ...


class CatalogRepository(Protocol):
    def get(self, sku: str) -> CatalogEntry | None: ...
    def get_many(self, skus: set[str]) -> dict[str, CatalogEntry]: ...
    def upsert(self, entry: CatalogEntry) -> bool: ...


class IdempotencyKeyRepository(Protocol):
    def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None: ...


class UnitOfWork(Protocol):
    """One transaction over the repositories; `commit()` also stages recorded events."""

    @property
    def orders(self) -> OrderRepository: ...
    @property
    def catalog(self) -> CatalogRepository: ...
    @property
    def idempotency_keys(self) -> IdempotencyKeyRepository: ...

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    customer_id: str
    items: tuple[tuple[str, int], ...]
    """(sku, quantity) as requested; a sku asked twice is merged into one line."""
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        """Identifies the request body, to tell a retry from a reused Idempotency-Key."""
        body = {"customer_id": self.customer_id, "items": [list(i) for i in self.items]}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CancelOrder:
    order_id: UUID


def place_order(cmd: PlaceOrder, uow: UnitOfWork) -> Order:
    """Store a PENDING order priced from the local catalog (or the one this key created)."""
    order_id = uuid4()
    with uow:
        if cmd.idempotency_key is not None:
            claim = IdempotencyRecord(cmd.idempotency_key, cmd.fingerprint(), order_id)
            earlier = uow.idempotency_keys.claim(claim)
            if earlier is not None:
                if earlier.fingerprint != claim.fingerprint:
                    raise IdempotencyKeyReused(cmd.idempotency_key)
                existing = uow.orders.get(earlier.order_id)
                if existing is None:  # the foreign key makes this impossible
                    raise LookupError(f"idempotency key {cmd.idempotency_key!r} lost its order")
                return existing
        catalog = uow.catalog.get_many({sku for sku, _ in cmd.items})
        order = Order.place(
            order_id, cmd.customer_id, price_items(cmd.items, catalog), DEFAULT_CURRENCY
        )
        uow.orders.add(order)
        uow.commit()
    log.info("order_placed", correlation_id=str(order_id), total_cents=order.total_cents)
    return order


def cancel_order(cmd: CancelOrder, uow: UnitOfWork) -> Order | None:
    """Cancel on the customer's behalf; None when the order does not exist."""
    with uow:
        order = uow.orders.get(cmd.order_id, for_update=True)
        if order is None:
            return None
        if order.cancel_by_customer():
            uow.orders.save(order)
            log.info("order_cancelled", correlation_id=str(order.order_id), reason="customer")
        uow.commit()
    return order


def payment_processed(event: Envelope[PaymentProcessed], uow: UnitOfWork) -> None:
    """A PENDING order becomes PAYMENT_RECEIVED; otherwise only its history grows."""
    _apply(event, uow, Order.payment_received)


def items_reserved(event: Envelope[ItemsReserved], uow: UnitOfWork) -> None:
    """A live order is CONFIRMED and says so; a cancelled one stays cancelled."""
    _apply(event, uow, Order.items_reserved)


def payment_failed(event: Envelope[PaymentFailed], uow: UnitOfWork) -> None:
    """A live order is CANCELLED(payment_failed)."""
    _apply(event, uow, lambda order, e: order.saga_failed(e, CancelReason.PAYMENT_FAILED))


def inventory_failed(event: Envelope[InventoryFailed], uow: UnitOfWork) -> None:
    """A live order is CANCELLED(out_of_stock); payment refunds on the OrderCancelled."""
    _apply(event, uow, lambda order, e: order.saga_failed(e, CancelReason.OUT_OF_STOCK))


def compensated(
    event: Envelope[PaymentRefunded] | Envelope[ItemsReleased], uow: UnitOfWork
) -> None:
    """PaymentRefunded / ItemsReleased: history only."""
    _apply(event, uow, Order.record)


def product_upserted(event: Envelope[ProductUpserted], uow: UnitOfWork) -> bool:
    """Upsert the local catalog row; an older update than the stored one is ignored."""
    product = event.payload
    entry = CatalogEntry(product.sku, product.name, product.price_cents, event.occurred_at)
    with uow:
        applied = uow.catalog.upsert(entry)
        uow.commit()
    log.info("catalog_updated" if applied else "catalog_update_ignored_as_stale", sku=product.sku)
    return applied


def _apply(event: Envelope[SagaEvent], uow: UnitOfWork, change: "_Change") -> None:
    order_id = event.payload.order_id
    with structlog.contextvars.bound_contextvars(correlation_id=str(order_id)), uow:
        order = uow.orders.get(order_id, for_update=True)
        if order is None:
            # The order commits before OrderCreated is even published, so this never heals.
            log.warning("event_for_unknown_order_ignored", event_type=event.event_type)
            return
        before = order.status
        change(order, event)
        uow.orders.save(order)
        uow.commit()
        log.info("order_event_applied", status_before=before, status=order.status)


class _Change(Protocol):
    def __call__(self, order: Order, event: Envelope[SagaEvent], /) -> object: ...
