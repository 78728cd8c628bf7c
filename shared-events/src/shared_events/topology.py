"""Who writes and who reads each topic: the saga's services, their consumer groups, their events.

The contract's side of DESIGN.md §1; each service's tests check that its consumer agrees
(its topics and handlers), and the AsyncAPI document is generated from it.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from shared_events.topics import (
    INVENTORY_EVENTS,
    ORDER_EVENTS,
    PAYMENT_EVENTS,
    PRODUCT_CATALOG,
    dead_letter_topic,
)


@dataclass(frozen=True, slots=True)
class SagaService:
    """One service as the wire sees it: what it publishes, and what its consumer applies."""

    name: str
    """`producer.service` of the envelopes it writes."""
    consumer_group: str
    produces: str
    """The topic its outbox relay publishes its saga events to."""
    handles: Mapping[str, tuple[str, ...]]
    """Topic -> the event types its consumer applies; it skips the topic's other events."""
    also_produces: tuple[str, ...] = ()
    """Other topics its outbox relay publishes to (inventory: `product-catalog`)."""
    replays: tuple[str, ...] = ()
    """Event types it applies on every delivery, recording none in its inbox: a latest-state
    upsert that an older or repeated record never changes (so re-reading rebuilds the state)."""

    @property
    def writes(self) -> tuple[str, ...]:
        """Every topic its outbox relay publishes to, `produces` first."""
        return (self.produces, *self.also_produces)

    @property
    def dead_letter_topic(self) -> str:
        """Where its consumer moves poison messages."""
        return dead_letter_topic(self.consumer_group)


SERVICES: Final = (
    SagaService(
        name="inventory",
        consumer_group="inventory-service",
        produces=INVENTORY_EVENTS,
        also_produces=(PRODUCT_CATALOG,),
        handles={
            ORDER_EVENTS: ("OrderCancelled", "OrderCreated"),
            PAYMENT_EVENTS: ("PaymentProcessed",),
        },
    ),
    SagaService(
        name="order",
        consumer_group="order-service",
        produces=ORDER_EVENTS,
        handles={
            # ProductUpserted here: records a release before 2.4.0 wrote (its former topic).
            INVENTORY_EVENTS: (
                "InventoryFailed",
                "ItemsReleased",
                "ItemsReserved",
                "ProductUpserted",
            ),
            PAYMENT_EVENTS: ("PaymentFailed", "PaymentProcessed", "PaymentRefunded"),
            PRODUCT_CATALOG: ("ProductUpserted",),
        },
        replays=("ProductUpserted",),
    ),
    SagaService(
        name="payment",
        consumer_group="payment-service",
        produces=PAYMENT_EVENTS,
        handles={ORDER_EVENTS: ("OrderCancelled", "OrderCreated")},
    ),
)
"""The three services, by name."""


def service(name: str) -> SagaService:
    """The service called `name` (`order`, `payment`, `inventory`)."""
    for candidate in SERVICES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no saga service {name!r} (known: {[s.name for s in SERVICES]})")


SAGA_ORDER: Final = ("order", "payment", "inventory")
"""The services in the order a saga visits them (how pages and tools list them)."""

CONSUMER_GROUPS: Final = tuple(service(name).consumer_group for name in SAGA_ORDER)
"""Every consumer group of the saga (each service's one group), in saga order."""
