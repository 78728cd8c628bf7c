"""One function per command or consumed event type: `(command, uow) -> result`.

Each handler opens `with uow:`, loads what it needs (order rows locked), lets the domain
decide, and commits once; the unit of work writes the events the orders recorded to the
outbox in that same transaction. A consumed-event handler takes every event of its type
in one consumer wave (one per order) and loads and saves their orders set-wise.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from uuid import UUID, uuid4

import structlog

from order_service.domain import CatalogEntry, IdempotencyRecord, Order, OrderStatus, price_items
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
from shared_events.runtime.unit_of_work import Atomic

log = structlog.get_logger(__name__)


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key was already used for a different request body."""


class OrderRepository(Protocol):
    def add(self, order: Order) -> None: ...
    def get(self, order_id: UUID, *, for_update: bool = False) -> Order | None: ...
    def get_many(
        self, order_ids: Sequence[UUID], *, for_update: bool = False
    ) -> dict[UUID, Order]: ...
    def save(self, order: Order) -> None: ...
    def save_many(self, changed: Sequence[Order]) -> None: ...
    def claim_overdue(self, placed_before: datetime, *, limit: int) -> list[Order]: ...
    def find(
        self,
        *,
        customer_id: str | None,
        status: OrderStatus | None,
        limit: int,
        stuck_before: datetime | None = None,
    ) -> list[Order]: ...
    def seen(self) -> list[Order]: ...


class CatalogRepository(Protocol):
    def get(self, sku: str) -> CatalogEntry | None: ...
    def get_many(self, skus: set[str]) -> dict[str, CatalogEntry]: ...
    def upsert(self, entry: CatalogEntry) -> bool: ...
    def upsert_many(self, entries: Sequence[CatalogEntry]) -> set[str]: ...


class IdempotencyKeyRepository(Protocol):
    def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None: ...


class UnitOfWork(Atomic, Protocol):
    """One transaction over the repositories; `commit()` also stages recorded events."""

    @property
    def orders(self) -> OrderRepository: ...
    @property
    def catalog(self) -> CatalogRepository: ...
    @property
    def idempotency_keys(self) -> IdempotencyKeyRepository: ...


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    customer_id: str
    items: tuple[tuple[str, int], ...]
    """(sku, quantity) as requested; a sku asked twice is merged into one line."""
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        """Identifies the order asked for, to tell a retry from a reused Idempotency-Key.

        The customer and the merged lines by sku: the same items in another order (or a sku
        split over two lines) ask for the same order.
        """
        merged: dict[str, int] = {}
        for sku, quantity in self.items:
            merged[sku] = merged.get(sku, 0) + quantity
        return _fingerprint(self.customer_id, sorted(merged.items()))

    def fingerprint_as_given(self) -> str:
        """The fingerprint of the lines in the order given, as stored before fingerprints
        ignored that order: keys claimed then (keys never expire) still match their retries."""
        return _fingerprint(self.customer_id, self.items)

    def matches(self, earlier: IdempotencyRecord) -> bool:
        """Whether `earlier` was claimed by this same request (either fingerprint)."""
        # The as-given fingerprint of lines already sorted and merged is the order-independent
        # one, so accepting both never takes another request for this one.
        return earlier.fingerprint in (self.fingerprint(), self.fingerprint_as_given())


def _fingerprint(customer_id: str, items: Sequence[tuple[str, int]]) -> str:
    body = {"customer_id": customer_id, "items": [list(i) for i in items]}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CancelOrder:
    order_id: UUID


@dataclass(frozen=True, slots=True)
class TimeOutOrders:
    """Cancel open orders placed before `placed_before` (the saga deadline ago), `limit` at most."""

    placed_before: datetime
    limit: int


def place_order(cmd: PlaceOrder, uow: UnitOfWork) -> Order:
    """Store a PENDING order priced from the local catalog (or the one this key created)."""
    order_id = uuid4()
    with uow:
        if cmd.idempotency_key is not None:
            claim = IdempotencyRecord(cmd.idempotency_key, cmd.fingerprint(), order_id)
            earlier = uow.idempotency_keys.claim(claim)
            if earlier is not None:
                if not cmd.matches(earlier):
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
    log.debug("order_placed", correlation_id=str(order_id), total_cents=order.total_cents)
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


def time_out_orders(cmd: TimeOutOrders, uow: UnitOfWork) -> list[Order]:
    """Cancel (timed_out) the overdue open orders no other instance holds; returns them."""
    with uow:
        overdue = uow.orders.claim_overdue(cmd.placed_before, limit=cmd.limit)
        timed_out = [order for order in overdue if order.time_out()]
        uow.orders.save_many(timed_out)
        uow.commit()
    for order in timed_out:
        log.info("order_cancelled", correlation_id=str(order.order_id), reason="timed_out")
    return timed_out


@dataclass(frozen=True, slots=True)
class FindOrders:
    """Orders, newest first, `limit` at most, narrowed by whichever filters are given."""

    customer_id: str | None = None
    status: OrderStatus | None = None
    limit: int = 50
    open_longer_than_s: float | None = None
    """Only open orders placed longer ago than this many seconds (stuck ones)."""


def get_order(order_id: UUID, uow: UnitOfWork) -> Order | None:
    """One order with its history; None when it does not exist."""
    with uow:
        return uow.orders.get(order_id)


def find_orders(query: FindOrders, uow: UnitOfWork) -> list[Order]:
    """The orders the query asks for, newest first."""
    stuck_before = None
    if query.open_longer_than_s is not None:
        stuck_before = datetime.now(UTC) - timedelta(seconds=query.open_longer_than_s)
    with uow:
        return uow.orders.find(
            customer_id=query.customer_id,
            status=query.status,
            limit=query.limit,
            stuck_before=stuck_before,
        )


def get_catalog_entry(sku: str, uow: UnitOfWork) -> CatalogEntry | None:
    """What this service knows of a product; None until its ProductUpserted arrived."""
    with uow:
        return uow.catalog.get(sku)


def payments_processed(events: Sequence[Envelope[PaymentProcessed]], uow: UnitOfWork) -> None:
    """A PENDING order becomes PAYMENT_RECEIVED; otherwise only its history grows."""
    _apply(events, uow, Order.payment_received)


def items_reserved(events: Sequence[Envelope[ItemsReserved]], uow: UnitOfWork) -> None:
    """A live order is CONFIRMED and says so; a cancelled one stays cancelled."""
    _apply(events, uow, Order.items_reserved)


def payments_failed(events: Sequence[Envelope[PaymentFailed]], uow: UnitOfWork) -> None:
    """A live order is CANCELLED(payment_failed)."""
    _apply(events, uow, lambda order, e: order.saga_failed(e, CancelReason.PAYMENT_FAILED))


def inventory_failed(events: Sequence[Envelope[InventoryFailed]], uow: UnitOfWork) -> None:
    """A live order is CANCELLED(out_of_stock); payment refunds on the OrderCancelled."""
    _apply(events, uow, lambda order, e: order.saga_failed(e, CancelReason.OUT_OF_STOCK))


def payments_refunded(events: Sequence[Envelope[PaymentRefunded]], uow: UnitOfWork) -> None:
    """Compensation done by payment: history only."""
    _apply(events, uow, Order.record)


def items_released(events: Sequence[Envelope[ItemsReleased]], uow: UnitOfWork) -> None:
    """Compensation done by inventory: history only."""
    _apply(events, uow, Order.record)


def products_upserted(events: Sequence[Envelope[ProductUpserted]], uow: UnitOfWork) -> set[str]:
    """Upsert the local catalog; returns the skus whose entry changed (older updates lose)."""
    entries = [
        CatalogEntry(e.payload.sku, e.payload.name, e.payload.price_cents, e.occurred_at)
        for e in events
    ]
    with uow:
        applied = uow.catalog.upsert_many(entries)
        uow.commit()
    for sku in dict.fromkeys(entry.sku for entry in entries):
        outcome = "catalog_updated" if sku in applied else "catalog_update_ignored_as_stale"
        log.debug(outcome, sku=sku)
    return applied


def _apply(events: Sequence[Envelope[SagaEvent]], uow: UnitOfWork, change: "_Change") -> None:
    """Load every order the events are about in one go, apply each event in turn, save once."""
    with uow:
        found = uow.orders.get_many([event.payload.order_id for event in events], for_update=True)
        changed: list[Order] = []
        for event in events:
            fields = _log_fields(event)
            order = found.get(event.payload.order_id)
            if order is None:
                # The order commits before OrderCreated is even published, so this never heals.
                log.warning("event_for_unknown_order_ignored", **fields)
                continue
            before = order.status
            change(order, event)
            changed.append(order)
            log.debug("order_event_applied", status_before=before, status=order.status, **fields)
        uow.orders.save_many(changed)
        uow.commit()


def _log_fields(event: Envelope[SagaEvent]) -> dict[str, str]:
    return {
        "event_type": event.event_type,
        "event_id": str(event.event_id),
        "correlation_id": str(event.payload.order_id),
    }


class _Change(Protocol):
    def __call__(self, order: Order, event: Envelope[SagaEvent], /) -> object: ...
