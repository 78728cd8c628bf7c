"""Kafka topic names of the saga: one topic per bounded context, plus dead letters."""

from typing import Final

ORDER_EVENTS: Final = "order-events"
PAYMENT_EVENTS: Final = "payment-events"
INVENTORY_EVENTS: Final = "inventory-events"

EVENT_TOPICS: Final = (ORDER_EVENTS, PAYMENT_EVENTS, INVENTORY_EVENTS)

DEAD_LETTER_SUFFIX: Final = ".dlq"


def dead_letter_topic(consumer_group: str) -> str:
    """Name of the dead-letter topic owned by one consumer group (e.g. `payment-service.dlq`)."""
    return f"{consumer_group}{DEAD_LETTER_SUFFIX}"
