"""In-memory fakes of the repositories and unit of work, with the SQL ones' semantics.

Aggregates handed out are copies; what a unit of work saved becomes visible to others
only when it commits, and is dropped when it exits without committing (like a rollback).
"""

import copy
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Self
from uuid import UUID

import pytest

from inventory_service import SERVICE
from inventory_service.domain import Order, Product, ProductExists, ReservationView
from shared_events import Envelope, Event
from shared_events.runtime.unit_of_work import UnitOfWork


class FakeProductRepository:
    def __init__(self, committed: dict[str, Product]) -> None:
        self._committed = committed
        self.staged: dict[str, Product] = {}
        self.seen: list[Product] = []

    def get(self, sku: str) -> Product | None:
        found = self.staged.get(sku) or self._committed.get(sku)
        return copy.deepcopy(found) if found is not None else None

    def list(self) -> list[Product]:
        merged = {**self._committed, **self.staged}
        return [copy.deepcopy(merged[sku]) for sku in sorted(merged)]

    def lock(self, skus: Iterable[str]) -> dict[str, Product]:
        found = (self.get(sku) for sku in sorted(set(skus)))
        return {p.sku: p for p in found if p is not None}

    def lock_page(self, after: str | None, limit: int) -> Sequence[Product]:
        merged = {**self._committed, **self.staged}
        skus = [sku for sku in sorted(merged) if after is None or sku > after][:limit]
        page = [copy.deepcopy(merged[sku]) for sku in skus]
        self.seen.extend(page)
        return page

    def add(self, product: Product) -> None:
        if product.sku in self._committed or product.sku in self.staged:
            raise ProductExists(product.sku)
        self.save(product)

    def save(self, product: Product) -> None:
        self.staged[product.sku] = product
        if not any(p is product for p in self.seen):
            self.seen.append(product)

    def save_many(self, products: Iterable[Product]) -> None:
        for product in products:
            self.save(product)


class FakeOrderRepository:
    def __init__(self, committed: dict[UUID, Order], stamps: dict[tuple[UUID, str], datetime]):
        self._committed = committed
        self._stamps = stamps
        self.staged: dict[UUID, Order] = {}
        self.seen: list[Order] = []

    def lock(self, order_id: UUID) -> Order:
        found = self.staged.get(order_id) or self._committed.get(order_id)
        return copy.deepcopy(found) if found is not None else Order(order_id)

    def lock_many(self, order_ids: Sequence[UUID]) -> list[Order]:
        return [self.lock(order_id) for order_id in order_ids]

    def save(self, order: Order) -> None:
        self.staged[order.order_id] = order
        if not any(o is order for o in self.seen):
            self.seen.append(order)

    def save_many(self, orders: Sequence[Order]) -> None:
        for order in orders:
            self.save(order)

    def reservations(self, order_id: UUID) -> list[ReservationView]:
        order = self.staged.get(order_id) or self._committed.get(order_id)
        held = sorted(order.reservations, key=lambda r: r.sku) if order is not None else []
        return [
            ReservationView(
                order_id=order_id,
                sku=r.sku,
                quantity=r.quantity,
                status=r.status,
                created_at=self._stamps.get((order_id, r.sku), _NOW),
                updated_at=self._stamps.get((order_id, r.sku), _NOW),
            )
            for r in held
        ]


_NOW = datetime(2025, 1, 1, tzinfo=UTC)


class FakeUnitOfWork(UnitOfWork[Product | Order]):
    """Committed state in dicts; each `with` works on copies that only `commit()` keeps.

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
            self.committed_products: dict[str, Product] = {}
            self.committed_orders: dict[UUID, Order] = {}
            self.stamps: dict[tuple[UUID, str], datetime] = {}
            self.outbox: list[Envelope[Event]] = []
            self.commits = 0
        self._start()

    def riding(self, causes: Sequence[Envelope[Event]]) -> "FakeUnitOfWork":
        return FakeUnitOfWork(causes=causes, root=self._root)

    def __enter__(self) -> Self:
        self._start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._start()  # whatever was not committed is gone with the working copies

    def _start(self) -> None:
        root = self._root
        self.products = FakeProductRepository(root.committed_products)
        self.orders = FakeOrderRepository(root.committed_orders, root.stamps)

    def _aggregates(self) -> Iterable[Product | Order]:
        return [*self.products.seen, *self.orders.seen]

    def _stage(self, envelopes: Sequence[Envelope[Event]]) -> None:
        self._staged = list(envelopes)

    def _finish(self) -> None:
        root = self._root
        root.committed_products.update(copy.deepcopy(self.products.staged))
        root.committed_orders.update(copy.deepcopy(self.orders.staged))
        root.outbox.extend(self._staged)
        root.commits += 1
        self._start()

    # -- test helpers -----------------------------------------------------------------------

    def product(self, sku: str) -> Product:
        return self._root.committed_products[sku]

    def order(self, order_id: UUID) -> Order:
        return self._root.committed_orders[order_id]

    def stock(self, sku: str) -> tuple[int, int]:
        """(available, reserved) of a committed product."""
        product = self._root.committed_products[sku]
        return product.available, product.reserved

    def published(self, event_type: str | None = None) -> list[Envelope[Event]]:
        """Events staged in the outbox, optionally of one type."""
        return [e for e in self._root.outbox if event_type in (None, e.event_type)]

    def payloads(self) -> list[Event]:
        """The events staged in the outbox, out of their envelopes."""
        return [envelope.payload for envelope in self._root.outbox]

    def published_types(self) -> list[str]:
        return [envelope.event_type for envelope in self._root.outbox]


@pytest.fixture
def fake_uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def fake_uow_factory() -> type[FakeUnitOfWork]:
    return FakeUnitOfWork


@pytest.fixture(scope="session")
def new_uow() -> type[FakeUnitOfWork]:
    """Makes fresh fake units of work (for property tests, which run many examples)."""
    return FakeUnitOfWork
