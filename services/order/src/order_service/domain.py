"""The Order aggregate and the local catalog: status rules, no I/O.

An order records the events it causes (`events`, plain: the unit of work wraps each in its
envelope) and a history entry for every event it consumed or caused; the unit of work adds
those it caused, once wrapped (`caused`), and stages them in the outbox.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final
from uuid import UUID

from shared_events import (
    CancelReason,
    Envelope,
    Event,
    OrderConfirmed,
    OrderCreated,
    OrderLine,
    order_cancelled,
)


class OrderStatus(StrEnum):
    """Where an order is in its saga."""

    PENDING = "PENDING"
    PAYMENT_RECEIVED = "PAYMENT_RECEIVED"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


TERMINAL: Final = frozenset({OrderStatus.CONFIRMED, OrderStatus.CANCELLED})


class UnknownSkus(Exception):
    """Some requested skus are not in the local catalog (yet)."""

    def __init__(self, positions: dict[int, str]) -> None:
        super().__init__(f"unknown skus: {sorted(set(positions.values()))}")
        self.positions = positions
        """Index of each offending item in the request -> its sku."""


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """What the order service knows of a product, as of the event that told it."""

    sku: str
    name: str
    price_cents: int
    updated_at: datetime

    def supersedes(self, other: "CatalogEntry | None") -> bool:
        """Whether this entry replaces `other`: an older or replayed update never wins."""
        return other is None or self.updated_at > other.updated_at


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """An Idempotency-Key, the request it was first used for, and the order it created."""

    key: str
    fingerprint: str
    order_id: UUID


@dataclass(frozen=True, slots=True)
class OrderItem:
    """One line of an order, priced when the order was placed."""

    sku: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """An event this order produced or consumed."""

    event_type: str
    event_id: UUID
    occurred_at: datetime
    service: str


def price_items(
    requested: Iterable[tuple[str, int]], catalog: dict[str, CatalogEntry]
) -> tuple[OrderItem, ...]:
    """Price requested (sku, quantity) pairs; a sku asked twice becomes one merged line."""
    requested = list(requested)
    unknown = {i: sku for i, (sku, _) in enumerate(requested) if sku not in catalog}
    if unknown:
        raise UnknownSkus(unknown)
    quantities: dict[str, int] = {}
    for sku, quantity in requested:
        quantities[sku] = quantities.get(sku, 0) + quantity
    return tuple(
        OrderItem(sku=sku, quantity=quantity, unit_price_cents=catalog[sku].price_cents)
        for sku, quantity in quantities.items()
    )


@dataclass(eq=False)
class Order:
    """An order of one customer and its saga state."""

    order_id: UUID
    customer_id: str
    items: tuple[OrderItem, ...]
    currency: str
    status: OrderStatus
    cancel_reason: CancelReason | None
    created_at: datetime
    updated_at: datetime
    history: list[HistoryEntry] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @classmethod
    def place(
        cls, order_id: UUID, customer_id: str, items: tuple[OrderItem, ...], currency: str
    ) -> "Order":
        """A new PENDING order, recording `OrderCreated`."""
        now = _now()
        order = cls(
            order_id=order_id,
            customer_id=customer_id,
            items=items,
            currency=currency,
            status=OrderStatus.PENDING,
            cancel_reason=None,
            created_at=now,
            updated_at=now,
        )
        order.events.append(
            OrderCreated(
                order_id=order_id,
                customer_id=customer_id,
                items=tuple(
                    OrderLine(sku=i.sku, quantity=i.quantity, unit_price_cents=i.unit_price_cents)
                    for i in items
                ),
                total_cents=order.total_cents,
                currency=currency,
            )
        )
        return order

    @property
    def total_cents(self) -> int:
        """What the order costs, in `currency` cents."""
        return sum(item.quantity * item.unit_price_cents for item in self.items)

    @property
    def is_terminal(self) -> bool:
        """Whether the saga is over (only a customer cancel moves a CONFIRMED order)."""
        return self.status in TERMINAL

    def has_seen(self, event_id: UUID) -> bool:
        """Whether this order already produced or consumed the event."""
        return any(entry.event_id == event_id for entry in self.history)

    def record(self, event: Envelope[Event]) -> bool:
        """Add a consumed event to the history; False (nothing to do) when already seen."""
        if self.has_seen(event.event_id):
            return False
        self.history.append(_entry(event))
        self.updated_at = _now()
        return True

    def caused(self, event: Envelope[Event]) -> None:
        """Add an event it recorded to the history, in the envelope it goes out in."""
        self.history.append(_entry(event))
        self.updated_at = max(self.updated_at, event.occurred_at)

    def payment_received(self, event: Envelope[Event]) -> None:
        """PaymentProcessed: a PENDING order has its money; any other status only notes it."""
        if self.record(event) and self.status is OrderStatus.PENDING:
            self.status = OrderStatus.PAYMENT_RECEIVED

    def items_reserved(self, event: Envelope[Event]) -> None:
        """ItemsReserved: a live order is confirmed, even when payment news is still on its way."""
        if self.record(event) and not self.is_terminal:
            self.status = OrderStatus.CONFIRMED
            self.events.append(OrderConfirmed(order_id=self.order_id))

    def saga_failed(self, event: Envelope[Event], reason: CancelReason) -> None:
        """PaymentFailed / InventoryFailed: a live order is cancelled so others compensate."""
        if self.record(event) and not self.is_terminal:
            self._cancel(reason)

    def cancel_by_customer(self) -> bool:
        """Cancel from any status but CANCELLED (a CONFIRMED order gets compensated)."""
        if self.status is OrderStatus.CANCELLED:
            return False
        self._cancel(CancelReason.CUSTOMER_CANCELLED)
        return True

    def time_out(self) -> bool:
        """The saga deadline passed: a live order is CANCELLED(timed_out) so others compensate.

        False (nothing to do) once the saga is over: a CONFIRMED order is never timed out.
        """
        if self.is_terminal:
            return False
        self._cancel(CancelReason.TIMED_OUT)
        return True

    def _cancel(self, reason: CancelReason) -> None:
        self.status = OrderStatus.CANCELLED
        self.cancel_reason = reason
        self.events.append(order_cancelled(self.order_id, reason))


def _entry(event: Envelope[Event]) -> HistoryEntry:
    return HistoryEntry(
        event_type=event.event_type,
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        service=event.producer.service,
    )


def _now() -> datetime:
    return datetime.now(UTC)
