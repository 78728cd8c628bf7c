"""The contract's topology (shared_events.topology) describes this service's consumer."""

from sqlalchemy.orm import sessionmaker

from order_service import SERVICE
from order_service.bootstrap import default_consumer
from order_service.consumer import HANDLERS, REPLAYABLE, TOPICS
from order_service.settings import Settings
from shared_events.topology import service


def test_the_consumer_reads_and_applies_what_the_contract_says() -> None:
    declared = service(SERVICE)
    assert sorted(TOPICS) == sorted(declared.handles)
    assert sorted(HANDLERS) == sorted({t for types in declared.handles.values() for t in types})
    assert REPLAYABLE == frozenset(declared.replays)


def test_the_catalog_is_read_from_product_catalog_and_from_inventory_events() -> None:
    # product-catalog: where inventory writes it now; inventory-events: what older releases wrote.
    assert {"product-catalog", "inventory-events"} <= set(TOPICS)
    assert REPLAYABLE == {"ProductUpserted"}


def test_the_service_consumer_replays_the_catalog_and_reads_its_topic() -> None:
    consumer = default_consumer(Settings(), sessionmaker())

    assert consumer.topics == list(TOPICS)
    assert consumer.replayable_types == REPLAYABLE
