"""Events of the inventory bounded context: saga events on `inventory-events`, the catalog on
`product-catalog`."""

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from shared_events.contracts.event import Event, PositiveCents, Quantity, SagaEvent, Sku
from shared_events.topics import INVENTORY_EVENTS, PRODUCT_CATALOG


class InventoryFailureReason(StrEnum):
    """Why the items of an order could not be reserved."""

    OUT_OF_STOCK = "out_of_stock"
    UNKNOWN_SKU = "unknown_sku"


class ReservedItem(BaseModel):
    """Units of one sku held for an order."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: Sku
    quantity: Quantity


class _InventoryEvent(SagaEvent):
    topic: ClassVar[str] = INVENTORY_EVENTS


class ItemsReserved(_InventoryEvent):
    """Every item of the order is reserved (all or nothing)."""

    event_type: ClassVar[str] = "ItemsReserved"
    event_version: ClassVar[int] = 1

    items: Annotated[tuple[ReservedItem, ...], Field(min_length=1)]


class InventoryFailed(_InventoryEvent):
    """The order's items could not be reserved; nothing is held."""

    event_type: ClassVar[str] = "InventoryFailed"
    event_version: ClassVar[int] = 1

    reason: InventoryFailureReason
    skus: Annotated[tuple[Sku, ...], Field(min_length=1)]


class ItemsReleased(_InventoryEvent):
    """The order's reservation was released back to available stock."""

    event_type: ClassVar[str] = "ItemsReleased"
    event_version: ClassVar[int] = 1


class ProductUpserted(Event):
    """A product was created or replaced; keyed by sku so the latest per sku wins."""

    event_type: ClassVar[str] = "ProductUpserted"
    event_version: ClassVar[int] = 1
    # Compacted: the topic keeps each sku's latest record for good, so a new reader can
    # rebuild the whole catalog. Releases before 2.4.0 wrote it to inventory-events.
    topic: ClassVar[str] = PRODUCT_CATALOG
    former_topics: ClassVar[tuple[str, ...]] = (INVENTORY_EVENTS,)
    # The sku: a compacting reader keeps the latest state of each product.
    key_field: ClassVar[str] = "sku"

    sku: Sku
    name: Annotated[str, Field(min_length=1)]
    price_cents: PositiveCents
