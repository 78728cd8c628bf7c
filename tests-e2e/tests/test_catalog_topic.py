"""The catalog on its own compacted topic: inventory's outbox -> product-catalog -> order."""

from datetime import UTC, datetime

import orjson
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from saga_e2e.client import SagaClient, unique
from saga_e2e.kafka_tap import bootstrap_servers, find_record
from shared_events.topics import INVENTORY_EVENTS, PRODUCT_CATALOG

pytestmark = pytest.mark.e2e


def test_a_put_product_reaches_the_order_catalog_through_product_catalog(
    saga: SagaClient,
) -> None:
    since = datetime.now(UTC)
    sku = unique("catalog-topic")

    saga.put_product(sku, quantity=3, price_cents=1_234)  # waits for GET /catalog/{sku}

    record = find_record(PRODUCT_CATALOG, sku, "ProductUpserted", since)
    envelope = orjson.loads(record.value)
    assert envelope["producer"]["service"] == "inventory"
    assert envelope["payload"] == {"sku": sku, "name": sku, "price_cents": 1_234}
    # No longer on inventory-events, where releases before shared-events 2.4.0 wrote it.
    with pytest.raises(AssertionError, match="no ProductUpserted"):
        find_record(INVENTORY_EVENTS, sku, "ProductUpserted", since, timeout_s=3)


def test_the_catalog_topic_of_the_running_system_is_compacted() -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap_servers()})
    resource = ConfigResource(ResourceType.TOPIC, PRODUCT_CATALOG)
    config = admin.describe_configs([resource])[resource].result(timeout=15)
    assert config["cleanup.policy"].value == "compact"
