"""Products, stock, and inventory's record of each order's saga; pure rules, no I/O."""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from shared_events import (
    Event,
    InventoryFailed,
    InventoryFailureReason,
    ItemsReleased,
    ItemsReserved,
    ProductUpserted,
    ReservedItem,
)


class InvalidProduct(ValueError):
    """A product's name, price or quantity breaks the catalog rules."""


class StockShortage(ValueError):
    """More units were asked of a product than it has available (or reserved)."""


class ProductExists(Exception):
    """`add` found the sku taken: another transaction created that product concurrently."""


@dataclass(frozen=True, slots=True)
class Line:
    """Units of one sku wanted by an order."""

    sku: str
    quantity: int


@dataclass(eq=False)
class Product:
    """One sku's catalog data and stock: `available` to reserve, `reserved` held by orders."""

    sku: str
    name: str
    price_cents: int
    available: int
    reserved: int = 0
    events: list[Event] = field(default_factory=list, repr=False)

    @classmethod
    def create(cls, sku: str, name: str, price_cents: int, quantity: int) -> "Product":
        """A new product with `quantity` units available and none reserved."""
        product = cls(sku=sku, name=name, price_cents=0, available=0)
        product.replace(name, price_cents, quantity)
        return product

    def replace(self, name: str, price_cents: int, quantity: int) -> None:
        """Set name, price and available units; units held by reservations stay as they are."""
        if not self.sku or not name:
            raise InvalidProduct("sku and name must not be empty")
        if price_cents <= 0:
            raise InvalidProduct("price_cents must be positive")
        if quantity < 0:
            raise InvalidProduct("quantity must not be negative")
        self.name, self.price_cents, self.available = name, price_cents, quantity
        self.announce()

    def announce(self) -> None:
        """Record its catalog data (ProductUpserted) as it is now, e.g. to republish the catalog."""
        self.events.append(
            ProductUpserted(sku=self.sku, name=self.name, price_cents=self.price_cents)
        )

    def hold(self, quantity: int) -> None:
        """Move units from available to reserved; their sum is unchanged."""
        if quantity > self.available:
            raise StockShortage(f"{self.sku}: {quantity} wanted, {self.available} available")
        self.available -= quantity
        self.reserved += quantity

    def give_back(self, quantity: int) -> None:
        """Move units from reserved back to available; their sum is unchanged."""
        if quantity > self.reserved:
            raise StockShortage(f"{self.sku}: {quantity} released, {self.reserved} reserved")
        self.reserved -= quantity
        self.available += quantity


class StockState(StrEnum):
    """Where an order stands with inventory."""

    AWAITING = "AWAITING"  # not reserved (yet): items or payment unknown, or cancelled first
    RESERVED = "RESERVED"
    FAILED = "FAILED"
    RELEASED = "RELEASED"


class ReservationStatus(StrEnum):
    """Whether a reservation still holds its units."""

    RESERVED = "RESERVED"
    RELEASED = "RELEASED"


@dataclass(slots=True)
class Reservation:
    """Units of one sku held (or once held) for one order."""

    sku: str
    quantity: int
    status: ReservationStatus = ReservationStatus.RESERVED


@dataclass(frozen=True, slots=True)
class ReservationView:
    """A reservation as the API shows it: one sku of an order, with when it changed."""

    order_id: UUID
    sku: str
    quantity: int
    status: ReservationStatus
    created_at: datetime
    updated_at: datetime


@dataclass(eq=False)
class Order:
    """What inventory knows of one order, learnt from events arriving in any order."""

    order_id: UUID
    items: tuple[Line, ...] | None = None
    paid: bool = False
    cancelled: bool = False
    stock: StockState = StockState.AWAITING
    reservations: list[Reservation] = field(default_factory=list)
    events: list[Event] = field(default_factory=list, repr=False)

    def record_items(self, lines: Iterable[Line]) -> None:
        """Learn the order's items (from OrderCreated); the first version seen wins."""
        if self.items is None:
            self.items = merge_lines(lines)

    def record_payment(self) -> None:
        """Learn that the order was paid (from PaymentProcessed)."""
        self.paid = True

    @property
    def due_for_reservation(self) -> bool:
        """Items known, paid, not cancelled, and neither reserved nor failed yet."""
        return (
            self.items is not None
            and self.paid
            and not self.cancelled
            and self.stock is StockState.AWAITING
        )

    def skus_to_lock(self) -> list[str]:
        """The skus whose rows a reservation or release touches, in lock order."""
        if self.reservations:
            return sorted(r.sku for r in self.reservations)
        return sorted(line.sku for line in self.items or ())

    def reserve(self, products: Mapping[str, Product]) -> None:
        """Hold every item, or none of them and record why (unknown skus come first)."""
        if not self.due_for_reservation or self.items is None:
            return
        refusal = _refusal(self.items, products)
        if refusal is not None:
            reason, skus = refusal
            self.stock = StockState.FAILED
            self.events.append(InventoryFailed(order_id=self.order_id, reason=reason, skus=skus))
            return
        for line in self.items:
            products[line.sku].hold(line.quantity)
        self.reservations = [Reservation(line.sku, line.quantity) for line in self.items]
        self.stock = StockState.RESERVED
        self.events.append(
            ItemsReserved(
                order_id=self.order_id,
                items=tuple(
                    ReservedItem(sku=r.sku, quantity=r.quantity) for r in self.reservations
                ),
            )
        )

    @property
    def holds_stock(self) -> bool:
        """Whether units are reserved for this order right now."""
        return self.stock is StockState.RESERVED

    def cancel(self, products: Mapping[str, Product]) -> None:
        """Mark the order cancelled and release what it holds, exactly once."""
        self.cancelled = True
        if not self.holds_stock:
            return
        for reservation in self.reservations:
            products[reservation.sku].give_back(reservation.quantity)
            reservation.status = ReservationStatus.RELEASED
        self.stock = StockState.RELEASED
        self.events.append(ItemsReleased(order_id=self.order_id))


def merge_lines(lines: Iterable[Line]) -> tuple[Line, ...]:
    """One line per sku (quantities summed), sorted by sku: the order rows are locked in."""
    totals: Counter[str] = Counter()
    for line in lines:
        totals[line.sku] += line.quantity
    return tuple(Line(sku, totals[sku]) for sku in sorted(totals))


def _refusal(
    items: tuple[Line, ...], products: Mapping[str, Product]
) -> tuple[InventoryFailureReason, tuple[str, ...]] | None:
    unknown = tuple(line.sku for line in items if line.sku not in products)
    if unknown:
        return InventoryFailureReason.UNKNOWN_SKU, unknown
    short = tuple(line.sku for line in items if products[line.sku].available < line.quantity)
    if short:
        return InventoryFailureReason.OUT_OF_STOCK, short
    return None
