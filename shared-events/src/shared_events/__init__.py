"""Versioned event contracts shared by the order, payment and inventory services.

Build events with `new_envelope(OrderCreated(...), producer="order")` (or `follow_up`
for an event caused by another), decode JSON envelopes with `EVENT_REGISTRY.parse_envelope`;
the Kafka binding (`encode` / `decode`) lives in `shared_events.kafka`.
"""

from shared_events.contracts import (
    DEFAULT_CURRENCY,
    CancelReason,
    CancelReasonV1,
    Event,
    InventoryFailed,
    InventoryFailureReason,
    ItemsReleased,
    ItemsReserved,
    OrderCancelled,
    OrderCancelledV1,
    OrderConfirmed,
    OrderCreated,
    OrderCreatedV1,
    OrderLine,
    PaymentFailed,
    PaymentFailureReason,
    PaymentProcessed,
    PaymentRefunded,
    ProductUpserted,
    ReservedItem,
    SagaEvent,
    order_cancelled,
)
from shared_events.envelope import CONTRACTS_VERSION, Envelope, Producer, follow_up, new_envelope
from shared_events.errors import (
    DecodeError,
    InvalidEnvelope,
    InvalidPayload,
    NotJson,
    UnknownEventType,
    UnsupportedEventVersion,
)
from shared_events.event_registry import EVENT_REGISTRY
from shared_events.registry import EventRegistry, Upcaster

__version__ = CONTRACTS_VERSION

__all__ = [
    "EVENT_REGISTRY",
    "CONTRACTS_VERSION",
    "DEFAULT_CURRENCY",
    "CancelReason",
    "CancelReasonV1",
    "DecodeError",
    "Envelope",
    "Event",
    "EventRegistry",
    "InvalidEnvelope",
    "InvalidPayload",
    "InventoryFailed",
    "InventoryFailureReason",
    "ItemsReleased",
    "ItemsReserved",
    "NotJson",
    "OrderCancelled",
    "OrderCancelledV1",
    "OrderConfirmed",
    "OrderCreated",
    "OrderCreatedV1",
    "OrderLine",
    "PaymentFailed",
    "PaymentFailureReason",
    "PaymentProcessed",
    "PaymentRefunded",
    "Producer",
    "ProductUpserted",
    "ReservedItem",
    "SagaEvent",
    "UnknownEventType",
    "UnsupportedEventVersion",
    "Upcaster",
    "__version__",
    "follow_up",
    "new_envelope",
    "order_cancelled",
]
