"""The contract's topology: every event has one writer, and consumers read what exists."""

from shared_events import EVENT_REGISTRY, Event
from shared_events.kafka.provisioning import saga_topics
from shared_events.topics import EVENT_TOPICS, INVENTORY_EVENTS, PRODUCT_CATALOG
from shared_events.topology import CONSUMER_GROUPS, SERVICES, service


def models() -> list[type[Event]]:
    return [
        EVENT_REGISTRY.model(t, v)
        for t in EVENT_REGISTRY.event_types()
        for v in EVENT_REGISTRY.versions(t)
    ]


# Which service writes which event types (DESIGN.md §3).
WRITERS = {
    "order": {"OrderCreated", "OrderConfirmed", "OrderCancelled"},
    "payment": {"PaymentProcessed", "PaymentFailed", "PaymentRefunded"},
    "inventory": {"ItemsReserved", "InventoryFailed", "ItemsReleased", "ProductUpserted"},
}


def test_each_service_writes_its_own_topic_and_reads_with_its_own_group() -> None:
    assert sorted(t for s in SERVICES for t in s.writes) == sorted(EVENT_TOPICS)
    assert service("inventory").writes == (INVENTORY_EVENTS, PRODUCT_CATALOG)
    assert sorted(s.consumer_group for s in SERVICES) == sorted(CONSUMER_GROUPS)
    assert sorted(s.name for s in SERVICES) == ["inventory", "order", "payment"]


def test_the_dead_letter_topics_are_the_ones_created_for_the_groups() -> None:
    assert {s.dead_letter_topic for s in SERVICES} == set(saga_topics()) - set(EVENT_TOPICS)


def test_every_handled_event_exists_on_the_topic_it_is_read_from() -> None:
    for one in SERVICES:
        assert not set(one.writes) & set(one.handles), f"{one.name} reads its own topic"
        for topic, event_types in one.handles.items():
            assert list(event_types) == sorted(set(event_types))
            for event_type in event_types:
                latest = EVENT_REGISTRY.latest(event_type)
                assert topic in (latest.topic, *latest.former_topics)


def test_each_service_writes_the_topics_of_its_events() -> None:
    for one in SERVICES:
        written = {m.topic for m in models() if m.event_type in WRITERS[one.name]}
        assert set(one.writes) == written, one.name


def test_the_order_service_reads_the_catalog_from_its_old_and_new_topic() -> None:
    order = service("order")
    assert "ProductUpserted" in order.handles[PRODUCT_CATALOG]
    assert "ProductUpserted" in order.handles[INVENTORY_EVENTS]
    # Replayed, not deduplicated: re-reading product-catalog from its start rebuilds.
    assert order.replays == ("ProductUpserted",)
    for one in SERVICES:
        handled = {t for types in one.handles.values() for t in types}
        assert set(one.replays) <= handled, one.name


def test_every_event_is_read_by_someone() -> None:
    handled = {t for s in SERVICES for types in s.handles.values() for t in types}
    # OrderConfirmed only tells the world; nothing in the saga reacts to it.
    assert set(EVENT_REGISTRY.event_types()) - handled == {"OrderConfirmed"}


def test_every_event_keys_its_records_by_a_payload_field() -> None:
    for model in models():
        assert model.key_field in model.model_fields, model
        assert model.key is Event.key, f"{model.__name__} overrides key(): say key_field instead"
    assert {m.key_field for m in models() if m.event_type != "ProductUpserted"} == {"order_id"}
    assert EVENT_REGISTRY.latest("ProductUpserted").key_field == "sku"


def test_a_service_is_found_by_name() -> None:
    assert service("payment").consumer_group == "payment-service"
