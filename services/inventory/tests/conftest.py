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

from inventory_service.domain import Order, Product
from inventory_service.handlers import ProductExists, ReservationView
from shared_events import Event


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


class FakeUnitOfWork:
    """A unit of work over dicts; `published` holds the events of every commit, in order."""

    def __init__(self) -> None:
        self.committed_products: dict[str, Product] = {}
        self.committed_orders: dict[UUID, Order] = {}
        self.stamps: dict[tuple[UUID, str], datetime] = {}
        self.published: list[Event] = []
        self.commits = 0
        self._fresh()

    def _fresh(self) -> None:
        self.products = FakeProductRepository(self.committed_products)
        self.orders = FakeOrderRepository(self.committed_orders, self.stamps)

    def __enter__(self) -> Self:
        self._fresh()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._fresh()  # whatever was not committed is gone

    def commit(self) -> None:
        aggregates: list[Product | Order] = [*self.products.seen, *self.orders.seen]
        for aggregate in aggregates:
            self.published.extend(aggregate.events)
            aggregate.events.clear()
        self.committed_products.update(copy.deepcopy(self.products.staged))
        self.committed_orders.update(copy.deepcopy(self.orders.staged))
        self.commits += 1
        self._fresh()

    # -- test helpers -----------------------------------------------------------------------

    def product(self, sku: str) -> Product:
        return self.committed_products[sku]

    def order(self, order_id: UUID) -> Order:
        return self.committed_orders[order_id]

    def stock(self, sku: str) -> tuple[int, int]:
        """(available, reserved) of a committed product."""
        product = self.committed_products[sku]
        return product.available, product.reserved

    def published_types(self) -> list[str]:
        return [event.event_type for event in self.published]


@pytest.fixture
def fake_uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def fake_uow_factory() -> type[FakeUnitOfWork]:
    return FakeUnitOfWork
