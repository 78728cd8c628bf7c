"""Request and response bodies of the HTTP API (kept apart from tables and the domain)."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from inventory_service.domain import ReservationStatus
from shared_events.runtime.http import NO_NUL

MAX_UNITS = 2**31 - 1
"""Upper bound of a quantity or a price, so sums of them stay far from any column limit."""


class ProductIn(BaseModel):
    """Body of `PUT /products/{sku}`: `quantity` becomes the units available to reserve."""

    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL),
    ]
    price_cents: Annotated[StrictInt, Field(gt=0, le=MAX_UNITS)]
    quantity: Annotated[StrictInt, Field(ge=0, le=MAX_UNITS)]


class ProductOut(BaseModel):
    """A product and its stock: `available` to reserve, `reserved` held by orders."""

    model_config = ConfigDict(from_attributes=True)

    sku: str
    name: str
    price_cents: int
    available: int
    reserved: int


class ReservationOut(BaseModel):
    """Units of one sku held (`RESERVED`) or once held (`RELEASED`) for an order."""

    model_config = ConfigDict(from_attributes=True)

    order_id: UUID
    sku: str
    quantity: int
    status: ReservationStatus
    created_at: datetime
    updated_at: datetime
