"""Kafka topic names of the saga: one topic per bounded context, the catalog, dead letters."""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

ORDER_EVENTS: Final = "order-events"
PAYMENT_EVENTS: Final = "payment-events"
INVENTORY_EVENTS: Final = "inventory-events"
PRODUCT_CATALOG: Final = "product-catalog"
"""The latest state of every product, keyed by sku: compacted, so it holds the whole catalog
however long ago a product last changed (`inventory-events` keeps a retention window only)."""

EVENT_TOPICS: Final = (ORDER_EVENTS, PAYMENT_EVENTS, INVENTORY_EVENTS, PRODUCT_CATALOG)

TOPIC_CONFIGS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {PRODUCT_CATALOG: MappingProxyType({"cleanup.policy": "compact"})}
)
"""Topic settings the saga relies on, by topic (the others take the broker's defaults)."""

DEAD_LETTER_SUFFIX: Final = ".dlq"


def topic_config(topic: str) -> Mapping[str, str]:
    """The settings a topic must be created with (empty: the broker's defaults)."""
    return TOPIC_CONFIGS.get(topic, MappingProxyType({}))


def dead_letter_topic(consumer_group: str) -> str:
    """Name of the dead-letter topic owned by one consumer group (e.g. `payment-service.dlq`)."""
    return f"{consumer_group}{DEAD_LETTER_SUFFIX}"
