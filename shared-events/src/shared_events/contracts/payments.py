"""Events of the payment bounded context, published on `payment-events`."""

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from shared_events.contracts.event import PositiveCents, SagaEvent
from shared_events.topics import PAYMENT_EVENTS


class PaymentFailureReason(StrEnum):
    """Why an order could not be charged."""

    INSUFFICIENT_FUNDS = "insufficient_funds"
    UNKNOWN_CUSTOMER = "unknown_customer"


class _PaymentEvent(SagaEvent):
    topic: ClassVar[str] = PAYMENT_EVENTS


class PaymentProcessed(_PaymentEvent):
    """The customer's balance was charged for the order."""

    event_type: ClassVar[str] = "PaymentProcessed"
    event_version: ClassVar[int] = 1

    payment_id: UUID
    amount_cents: PositiveCents


class PaymentFailed(_PaymentEvent):
    """The order could not be charged."""

    event_type: ClassVar[str] = "PaymentFailed"
    event_version: ClassVar[int] = 1

    reason: PaymentFailureReason


class PaymentRefunded(_PaymentEvent):
    """A charge was refunded because its order was cancelled."""

    event_type: ClassVar[str] = "PaymentRefunded"
    event_version: ClassVar[int] = 1

    payment_id: UUID
    amount_cents: PositiveCents
