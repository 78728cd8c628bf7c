"""Fixtures of the order service's tests: a fake unit of work and saga event builders."""

import copy
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self
from uuid import UUID, uuid4

import pytest

from order_service import SERVICE
from order_service.domain import CatalogEntry, IdempotencyRecord, Order, OrderStatus
from shared_events import (
    Envelope,
    Event,
    InventoryFailed,
    InventoryFailureReason,
    ItemsReleased,
    ItemsReserved,
    PaymentFailed,
    PaymentFailureReason,
    PaymentProcessed,
    PaymentRefunded,
    ProductUpserted,
    ReservedItem,
    new_envelope,
)
from shared_events.runtime.unit_of_work import UnitOfWork


class FakeOrderRepository:
    def __init__(self, orders: dict[UUID, Order]) -> None:
        self._orders = orders
        self._seen: dict[UUID, Order] = {}

    def add(self, order: Order) -> None:
        self._orders[order.order_id] = self._seen[order.order_id] = order

    def get(self, order_id: UUID, *, for_update: bool = False) -> Order | None:
        return self.get_many([order_id], for_update=for_update).get(order_id)

    def get_many(self, order_ids: Sequence[UUID], *, for_update: bool = False) -> dict[UUID, Order]:
        found = {i: self._orders[i] for i in order_ids if i in self._orders}
        self._seen.update(found)
        return found

    def save(self, order: Order) -> None:
        self.save_many([order])

    def save_many(self, changed: Sequence[Order]) -> None:
        for order in changed:
            self._orders[order.order_id] = order

    def claim_overdue(self, placed_before: datetime, *, limit: int) -> list[Order]:
        overdue = sorted(
            (
                o
                for o in self._orders.values()
                if not o.is_terminal and o.created_at < placed_before
            ),
            key=lambda o: (o.created_at, str(o.order_id)),
        )[:limit]
        self._seen.update((o.order_id, o) for o in overdue)
        return overdue

    def find(
        self,
        *,
        customer_id: str | None,
        status: OrderStatus | None,
        limit: int,
        stuck_before: datetime | None = None,
    ) -> list[Order]:
        found = [
            o
            for o in self._orders.values()
            if customer_id in (None, o.customer_id)
            and status in (None, o.status)
            and (stuck_before is None or (not o.is_terminal and o.created_at < stuck_before))
        ]
        found.sort(key=lambda o: (-o.created_at.timestamp(), str(o.order_id)))
        return found[:limit]

    def seen(self) -> list[Order]:
        return list(self._seen.values())


class FakeCatalogRepository:
    def __init__(self, entries: dict[str, CatalogEntry]) -> None:
        self._entries = entries

    def get(self, sku: str) -> CatalogEntry | None:
        return self._entries.get(sku)

    def get_many(self, skus: Iterable[str]) -> dict[str, CatalogEntry]:
        return {sku: self._entries[sku] for sku in skus if sku in self._entries}

    def upsert(self, entry: CatalogEntry) -> bool:
        return entry.sku in self.upsert_many([entry])

    def upsert_many(self, entries: Sequence[CatalogEntry]) -> set[str]:
        applied: set[str] = set()
        for entry in entries:
            if entry.supersedes(self._entries.get(entry.sku)):
                self._entries[entry.sku] = entry
                applied.add(entry.sku)
        return applied


class FakeIdempotencyKeyRepository:
    def __init__(self, records: dict[str, IdempotencyRecord]) -> None:
        self._records = records

    def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        if record.key in self._records:
            return self._records[record.key]
        self._records[record.key] = record
        return None


class FakeUnitOfWork(UnitOfWork[Order]):
    """Committed state in dicts; each `with` works on a copy that only `commit()` keeps.

    `riding(causes)` is a unit of work on the same state whose events follow `causes`, as
    the consumer's is; envelopes are built as the SQL unit of work builds them.
    """

    service = SERVICE

    def __init__(
        self, *, causes: Sequence[Envelope[Event]] = (), root: "FakeUnitOfWork | None" = None
    ) -> None:
        super().__init__(causes=causes)
        self._root = root or self
        if root is None:
            self.committed_orders: dict[UUID, Order] = {}
            self.committed_catalog: dict[str, CatalogEntry] = {}
            self.committed_keys: dict[str, IdempotencyRecord] = {}
            self.outbox: list[Envelope[Event]] = []
            self.commits = 0

    def riding(self, causes: Sequence[Envelope[Event]]) -> "FakeUnitOfWork":
        return FakeUnitOfWork(causes=causes, root=self._root)

    def __enter__(self) -> Self:
        root = self._root
        self._orders = copy.deepcopy(root.committed_orders)
        self._catalog = dict(root.committed_catalog)
        self._keys = dict(root.committed_keys)
        self.orders = FakeOrderRepository(self._orders)
        self.catalog = FakeCatalogRepository(self._catalog)
        self.idempotency_keys = FakeIdempotencyKeyRepository(self._keys)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass

    def _aggregates(self) -> Iterable[Order]:
        return self.orders.seen()

    def _caused(self, order: Order, envelope: Envelope[Event]) -> None:
        order.caused(envelope)

    def _stage(self, envelopes: Sequence[Envelope[Event]]) -> None:
        self._staged = list(envelopes)

    def _finish(self) -> None:
        root = self._root
        root.outbox.extend(self._staged)
        root.committed_orders = copy.deepcopy(self._orders)
        root.committed_catalog = dict(self._catalog)
        root.committed_keys = dict(self._keys)
        root.commits += 1

    def order(self, order_id: UUID) -> Order:
        """The committed state of an order."""
        return self._root.committed_orders[order_id]

    def published(self, event_type: str | None = None) -> list[Envelope[Event]]:
        """Events staged in the outbox, optionally of one type."""
        return [e for e in self._root.outbox if event_type in (None, e.event_type)]


class SagaEvents:
    """Builds the events other services send about an order."""

    def payment_processed(self, order_id: UUID, amount_cents: int = 1000) -> Envelope[Event]:
        return self._wrap(
            PaymentProcessed(order_id=order_id, payment_id=uuid4(), amount_cents=amount_cents),
            "payment",
        )

    def payment_failed(self, order_id: UUID) -> Envelope[Event]:
        reason = PaymentFailureReason.INSUFFICIENT_FUNDS
        return self._wrap(PaymentFailed(order_id=order_id, reason=reason), "payment")

    def payment_refunded(self, order_id: UUID) -> Envelope[Event]:
        payload = PaymentRefunded(order_id=order_id, payment_id=uuid4(), amount_cents=1000)
        return self._wrap(payload, "payment")

    def items_reserved(self, order_id: UUID, sku: str = "SKU-1") -> Envelope[Event]:
        items = (ReservedItem(sku=sku, quantity=1),)
        return self._wrap(ItemsReserved(order_id=order_id, items=items), "inventory")

    def inventory_failed(self, order_id: UUID, sku: str = "SKU-1") -> Envelope[Event]:
        reason = InventoryFailureReason.OUT_OF_STOCK
        payload = InventoryFailed(order_id=order_id, reason=reason, skus=(sku,))
        return self._wrap(payload, "inventory")

    def items_released(self, order_id: UUID) -> Envelope[Event]:
        return self._wrap(ItemsReleased(order_id=order_id), "inventory")

    def product_upserted(
        self, sku: str, price_cents: int, *, name: str = "A product", age_s: float = 0.0
    ) -> Envelope[Event]:
        occurred_at = datetime.now(UTC) - timedelta(seconds=age_s)
        payload = ProductUpserted(sku=sku, name=name, price_cents=price_cents)
        return new_envelope(payload, producer="inventory", occurred_at=occurred_at)

    def _wrap(self, payload: Event, producer: str) -> Envelope[Event]:
        return new_envelope(payload, producer=producer, correlation_id=payload.key())


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture(scope="session")
def new_uow() -> type[FakeUnitOfWork]:
    """Makes fresh fake units of work (for property tests, which run many examples)."""
    return FakeUnitOfWork


@pytest.fixture(scope="session")
def saga() -> SagaEvents:
    return SagaEvents()
