"""One function per command and consumed event: `(command, uow) -> result`."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from inventory_service.domain import Line, Order, Product, ProductExists, ReservationView
from shared_events import Envelope, OrderCancelled, OrderCreated, PaymentProcessed
from shared_events.runtime.unit_of_work import Atomic


class ProductRepository(Protocol):
    """Products by sku; `lock` takes row locks in sku order so lockers never deadlock."""

    def get(self, sku: str) -> Product | None: ...
    def list(self) -> list[Product]: ...
    def lock(self, skus: Iterable[str]) -> dict[str, Product]: ...
    def lock_page(self, after: str | None, limit: int) -> Sequence[Product]: ...
    def add(self, product: Product) -> None: ...
    def save(self, product: Product) -> None: ...
    def save_many(self, products: Iterable[Product]) -> None: ...


class OrderRepository(Protocol):
    """Inventory's record of each order; `lock` creates it on first sight and locks it."""

    def lock(self, order_id: UUID) -> Order: ...
    def lock_many(self, order_ids: Sequence[UUID]) -> list[Order]: ...
    def save(self, order: Order) -> None: ...
    def save_many(self, orders: Sequence[Order]) -> None: ...
    def reservations(self, order_id: UUID) -> list[ReservationView]: ...


class UnitOfWork(Atomic, Protocol):
    """One atomic change: repositories plus a commit that also stages the events caused."""

    @property
    def products(self) -> ProductRepository: ...
    @property
    def orders(self) -> OrderRepository: ...


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
    """Create or replace a product; returns it and whether it was created.

    Of two first PUTs of a sku racing, one creates it and the other replaces it, as if it
    had come second: neither is refused.
    """
    with uow:
        product = uow.products.lock([cmd.sku]).get(cmd.sku)
        if product is None:
            product = Product.create(cmd.sku, cmd.name, cmd.price_cents, cmd.quantity)
            try:
                uow.products.add(product)
            except ProductExists:
                # Committed by a racing PUT after our lock found nothing. Each statement reads
                # what was committed before it (READ COMMITTED), so this lock finds that row.
                product = uow.products.lock([cmd.sku])[cmd.sku]
            else:
                uow.commit()
                return product, True
        product.replace(cmd.name, cmd.price_cents, cmd.quantity)
        uow.products.save(product)
        uow.commit()
        return product, False


def orders_created(events: Sequence[Envelope[OrderCreated]], uow: UnitOfWork) -> list[Order]:
    """OrderCreated, for orders of distinct ids: learn their items, reserve the paid ones."""
    return record_orders(
        [
            RecordOrder(e.payload.order_id, tuple(Line(i.sku, i.quantity) for i in e.payload.items))
            for e in events
        ],
        uow,
    )


def payments_processed(
    events: Sequence[Envelope[PaymentProcessed]], uow: UnitOfWork
) -> list[Order]:
    """PaymentProcessed, for orders of distinct ids: reserve the ones whose items are known."""
    return record_payments([RecordPayment(e.payload.order_id) for e in events], uow)


def orders_cancelled(events: Sequence[Envelope[OrderCancelled]], uow: UnitOfWork) -> list[Order]:
    """OrderCancelled, for orders of distinct ids: release what each holds."""
    return cancel_orders([CancelOrder(e.payload.order_id) for e in events], uow)


def record_order(cmd: RecordOrder, uow: UnitOfWork) -> Order:
    """Learn an order's items, and reserve them if it was already paid."""
    return record_orders([cmd], uow)[0]


def record_orders(cmds: Sequence[RecordOrder], uow: UnitOfWork) -> list[Order]:
    """Learn the items of orders of distinct ids, and reserve those already paid."""
    with uow:
        orders = uow.orders.lock_many([cmd.order_id for cmd in cmds])
        for cmd, order in zip(cmds, orders, strict=True):
            order.record_items(cmd.items)
        _reserve_due(orders, uow)
        uow.orders.save_many(orders)
        uow.commit()
        return orders


def record_payment(cmd: RecordPayment, uow: UnitOfWork) -> Order:
    """Learn an order was paid, and reserve its items if they are known."""
    return record_payments([cmd], uow)[0]


def record_payments(cmds: Sequence[RecordPayment], uow: UnitOfWork) -> list[Order]:
    """Learn that orders of distinct ids were paid, and reserve those whose items are known."""
    with uow:
        orders = uow.orders.lock_many([cmd.order_id for cmd in cmds])
        for order in orders:
            order.record_payment()
        _reserve_due(orders, uow)
        uow.orders.save_many(orders)
        uow.commit()
        return orders


def cancel_order(cmd: CancelOrder, uow: UnitOfWork) -> Order:
    """Mark an order cancelled and release its reservation if it holds one."""
    return cancel_orders([cmd], uow)[0]


def cancel_orders(cmds: Sequence[CancelOrder], uow: UnitOfWork) -> list[Order]:
    """Mark orders of distinct ids cancelled and release the reservations they hold."""
    with uow:
        orders = uow.orders.lock_many([cmd.order_id for cmd in cmds])
        holding = [order for order in orders if order.holds_stock]
        products = uow.products.lock(sku for order in holding for sku in order.skus_to_lock())
        for order in orders:
            order.cancel(products)
        uow.products.save_many(products.values())
        uow.orders.save_many(orders)
        uow.commit()
        return orders


def get_product(sku: str, uow: UnitOfWork) -> Product | None:
    """One product, or None when the sku is unknown."""
    with uow:
        return uow.products.get(sku)


def list_products(uow: UnitOfWork) -> list[Product]:
    """Every product, by sku."""
    with uow:
        return uow.products.list()


def list_reservations(order_id: UUID, uow: UnitOfWork) -> list[ReservationView]:
    """The reservations of one order, by sku."""
    with uow:
        return uow.orders.reservations(order_id)


CATALOG_PAGE_SIZE = 500
"""Products per transaction of `publish_catalog`, by default."""


@dataclass(frozen=True, slots=True)
class PublishCatalog:
    """Write every product's current state to `product-catalog` again, `page_size` a time."""

    page_size: int = CATALOG_PAGE_SIZE


def publish_catalog(cmd: PublishCatalog, uow: UnitOfWork) -> int:
    """Stage a ProductUpserted of every product in the outbox; how many it staged.

    One transaction per page of skus, each product share-locked until it commits: a PUT
    racing it waits, and its own ProductUpserted, newer, follows this one.
    """
    if cmd.page_size < 1:
        raise ValueError("page_size must be at least 1")
    staged, after = 0, None
    while True:
        with uow:
            page = uow.products.lock_page(after, cmd.page_size)
            for product in page:
                product.announce()
            uow.commit()
        staged += len(page)
        if len(page) < cmd.page_size:
            return staged
        after = page[-1].sku


def _reserve_due(orders: Sequence[Order], uow: UnitOfWork) -> None:
    # One lock of every sku the due orders need; they reserve in turn, in the given order.
    due = [order for order in orders if order.due_for_reservation]
    if not due:
        return
    products = uow.products.lock(sku for order in due for sku in order.skus_to_lock())
    for order in due:
        order.reserve(products)
    uow.products.save_many(
        products[r.sku] for order in due for r in order.reservations if r.sku in products
    )
