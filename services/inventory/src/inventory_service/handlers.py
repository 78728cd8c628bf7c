"""One function per command and consumed event: `(command, uow) -> result`."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from inventory_service.domain import Line, Order, Product, ReservationStatus


class ProductRepository(Protocol):
    """Products by sku; `lock` takes row locks in sku order so lockers never deadlock."""

    def get(self, sku: str) -> Product | None: ...
    def list(self) -> list[Product]: ...
    def lock(self, skus: Iterable[str]) -> dict[str, Product]: ...
    def add(self, product: Product) -> None: ...
    def save(self, product: Product) -> None: ...


class OrderRepository(Protocol):
    """Inventory's record of each order; `lock` creates it on first sight and locks it."""

    def lock(self, order_id: UUID) -> Order: ...
    def save(self, order: Order) -> None: ...
    def reservations(self, order_id: UUID | None = None) -> list["ReservationView"]: ...


class UnitOfWork(Protocol):
    """One atomic change: repositories plus a commit that also stages the events caused."""

    @property
    def products(self) -> ProductRepository: ...
    @property
    def orders(self) -> OrderRepository: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...


class ProductExists(Exception):
    """A product was created concurrently by another transaction; retrying replaces it."""


@dataclass(frozen=True, slots=True)
class ReservationView:
    """A reservation as the API shows it."""

    order_id: UUID
    sku: str
    quantity: int
    status: ReservationStatus
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UpsertProduct:
    """Create or replace a product; `quantity` becomes its available units."""

    sku: str
    name: str
    price_cents: int
    quantity: int


@dataclass(frozen=True, slots=True)
class RecordOrder:
    """An order was created with these items (OrderCreated)."""

    order_id: UUID
    items: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class RecordPayment:
    """An order was paid (PaymentProcessed)."""

    order_id: UUID


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """An order was cancelled (OrderCancelled): release what it holds, never reserve."""

    order_id: UUID


def upsert_product(cmd: UpsertProduct, uow: UnitOfWork) -> tuple[Product, bool]:
    """Create or replace a product; returns it and whether it was created."""
    with uow:
        product = uow.products.lock([cmd.sku]).get(cmd.sku)
        created = product is None
        if product is None:
            product = Product.create(cmd.sku, cmd.name, cmd.price_cents, cmd.quantity)
            uow.products.add(product)
        else:
            product.replace(cmd.name, cmd.price_cents, cmd.quantity)
            uow.products.save(product)
        uow.commit()
        return product, created


def record_order(cmd: RecordOrder, uow: UnitOfWork) -> Order:
    """Learn an order's items, and reserve them if it was already paid."""
    with uow:
        order = uow.orders.lock(cmd.order_id)
        order.record_items(cmd.items)
        _reserve_if_due(order, uow)
        uow.orders.save(order)
        uow.commit()
        return order


def record_payment(cmd: RecordPayment, uow: UnitOfWork) -> Order:
    """Learn an order was paid, and reserve its items if they are known."""
    with uow:
        order = uow.orders.lock(cmd.order_id)
        order.record_payment()
        _reserve_if_due(order, uow)
        uow.orders.save(order)
        uow.commit()
        return order


def cancel_order(cmd: CancelOrder, uow: UnitOfWork) -> Order:
    """Mark an order cancelled and release its reservation if it holds one."""
    with uow:
        order = uow.orders.lock(cmd.order_id)
        products = uow.products.lock(order.skus_to_lock()) if order.holds_stock else {}
        order.cancel(products)
        for product in products.values():
            uow.products.save(product)
        uow.orders.save(order)
        uow.commit()
        return order


def get_product(sku: str, uow: UnitOfWork) -> Product | None:
    """One product, or None when the sku is unknown."""
    with uow:
        return uow.products.get(sku)


def list_products(uow: UnitOfWork) -> list[Product]:
    """Every product, by sku."""
    with uow:
        return uow.products.list()


def list_reservations(order_id: UUID | None, uow: UnitOfWork) -> list[ReservationView]:
    """Reservations of one order (or of every order), by order id and sku."""
    with uow:
        return uow.orders.reservations(order_id)


def _reserve_if_due(order: Order, uow: UnitOfWork) -> None:
    if not order.due_for_reservation:
        return
    products = uow.products.lock(order.skus_to_lock())
    order.reserve(products)
    for reservation in order.reservations:
        uow.products.save(products[reservation.sku])
