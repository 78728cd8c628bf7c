"""Request and response bodies of the HTTP API (kept apart from tables and the domain)."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, StrictInt

from order_service.domain import Order, OrderStatus
from shared_events import CancelReason
from shared_events.runtime.http import NO_NUL


class OrderItemIn(BaseModel):
    """One requested line: a sku of the catalog and how many units."""

    sku: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)]
    quantity: Annotated[StrictInt, Field(gt=0, le=1_000_000)]


class PlaceOrderIn(BaseModel):
    """`POST /orders`: a customer and at least one item; a sku given twice is merged."""

    customer_id: Annotated[str, Field(min_length=1, max_length=255, pattern=NO_NUL)]
    items: Annotated[list[OrderItemIn], Field(min_length=1, max_length=1000)]


class OrderItemOut(BaseModel):
    sku: str
    quantity: int
    unit_price_cents: int


class HistoryEntryOut(BaseModel):
    event_type: str
    event_id: UUID
    occurred_at: datetime
    service: str


class OrderOut(BaseModel):
    """An order as `GET /orders/{order_id}` shows it."""

    order_id: UUID
    customer_id: str
    items: list[OrderItemOut]
    total_cents: int
    status: OrderStatus
    cancel_reason: CancelReason | None
    created_at: datetime
    updated_at: datetime
    history: list[HistoryEntryOut]

    @classmethod
    def of(cls, order: Order) -> "OrderOut":
        """The response body of an order."""
        return cls.model_validate(order, from_attributes=True)


class CatalogEntryOut(BaseModel):
    """What the order service knows of a product; `updated_at` is when inventory changed it."""

    sku: str
    name: str
    price_cents: int
    updated_at: datetime
