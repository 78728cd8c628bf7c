import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from pydantic import ValidationError

from shared_events import (
    CONTRACTS_VERSION,
    EVENT_REGISTRY,
    CancelReason,
    Envelope,
    InventoryFailed,
    ItemsReserved,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderLine,
    PaymentProcessed,
    ProductUpserted,
    follow_up,
    new_envelope,
)
from shared_events.topics import (
    INVENTORY_EVENTS,
    ORDER_EVENTS,
    PAYMENT_EVENTS,
    PRODUCT_CATALOG,
    topic_config,
)


def order_created(**overrides: object) -> OrderCreated:
    fields: dict[str, object] = {
        "order_id": uuid4(),
        "customer_id": "alice",
        "items": [{"sku": "apple", "quantity": 2, "unit_price_cents": 150}],
        "total_cents": 300,
        "currency": "EUR",
    }
    return OrderCreated.model_validate(fields | overrides)


def test_catalog_holds_every_event_of_the_design() -> None:
    assert EVENT_REGISTRY.event_types() == sorted(
        [
            "OrderCreated",
            "OrderConfirmed",
            "OrderCancelled",
            "PaymentProcessed",
            "PaymentFailed",
            "PaymentRefunded",
            "ItemsReserved",
            "InventoryFailed",
            "ItemsReleased",
            "ProductUpserted",
        ]
    )
    assert EVENT_REGISTRY.versions("OrderCreated") == [1, 2]


def test_each_event_knows_its_topic() -> None:
    topics = {t: EVENT_REGISTRY.latest(t).topic for t in EVENT_REGISTRY.event_types()}
    assert topics["OrderCreated"] == topics["OrderCancelled"] == ORDER_EVENTS
    assert topics["PaymentFailed"] == topics["PaymentRefunded"] == PAYMENT_EVENTS
    assert topics["ItemsReleased"] == INVENTORY_EVENTS
    assert topics["ProductUpserted"] == PRODUCT_CATALOG


def test_product_upserted_moved_to_the_compacted_catalog_topic() -> None:
    assert ProductUpserted.topic == PRODUCT_CATALOG
    # Records of releases before 2.4.0 are on inventory-events: readers still read them there.
    assert ProductUpserted.former_topics == (INVENTORY_EVENTS,)
    assert topic_config(PRODUCT_CATALOG) == {"cleanup.policy": "compact"}
    assert all(not topic_config(t) for t in (ORDER_EVENTS, PAYMENT_EVENTS, INVENTORY_EVENTS))
    assert all(
        not EVENT_REGISTRY.model(t, v).former_topics
        for t in EVENT_REGISTRY.event_types()
        for v in EVENT_REGISTRY.versions(t)
        if t != "ProductUpserted"
    )


def test_saga_events_are_keyed_by_order_and_products_by_sku() -> None:
    order_id = uuid4()
    assert OrderConfirmed(order_id=order_id).key() == str(order_id)
    assert PaymentProcessed(order_id=order_id, payment_id=uuid4(), amount_cents=5).key() == str(
        order_id
    )
    assert ProductUpserted(sku="apple", name="Apple", price_cents=150).key() == "apple"


def test_payloads_are_frozen() -> None:
    event = order_created()
    with pytest.raises(ValidationError):
        event.total_cents = 1  # type: ignore[misc]
    with pytest.raises(ValidationError):
        event.items[0].quantity = 9  # type: ignore[misc]
    assert isinstance(event.items, tuple)


def test_envelopes_are_frozen() -> None:
    envelope = new_envelope(order_created(), producer="order")
    with pytest.raises(ValidationError):
        envelope.correlation_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "overrides",
    [
        {"items": []},
        {"items": [{"sku": "apple", "quantity": 0, "unit_price_cents": 150}]},
        {"items": [{"sku": "", "quantity": 1, "unit_price_cents": 150}]},
        {"total_cents": 0},
        {"total_cents": 300.0},
        {"total_cents": "300"},
        {"total_cents": True},
        {"currency": "eur"},
        {"currency": "EURO"},
        {"customer_id": ""},
        {"order_id": "not-a-uuid"},
    ],
)
def test_invalid_order_created_is_rejected(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        order_created(**overrides)


def test_reasons_are_closed_sets() -> None:
    assert (
        OrderCancelled(order_id=uuid4(), reason="out_of_stock").reason is CancelReason.OUT_OF_STOCK
    )
    with pytest.raises(ValidationError):
        OrderCancelled(order_id=uuid4(), reason="bored")
    with pytest.raises(ValidationError):
        InventoryFailed(order_id=uuid4(), reason="out_of_stock", skus=())
    with pytest.raises(ValidationError):
        ItemsReserved(order_id=uuid4(), items=())


def test_new_envelope_fills_type_version_producer_and_correlation() -> None:
    event = order_created()
    envelope = new_envelope(event, producer="order")
    assert (envelope.event_type, envelope.event_version) == ("OrderCreated", 2)
    assert envelope.producer.service == "order"
    assert envelope.producer.contracts_version == CONTRACTS_VERSION
    assert envelope.correlation_id == str(event.order_id)
    assert envelope.causation_id is None
    assert envelope.occurred_at.tzinfo is UTC
    assert envelope.payload is event


def test_follow_up_is_caused_by_and_correlated_with_its_cause() -> None:
    cause = new_envelope(order_created(), producer="order")
    charge = PaymentProcessed(order_id=cause.payload.order_id, payment_id=uuid4(), amount_cents=3)
    effect = follow_up(cause, charge, producer="payment")
    assert effect.causation_id == cause.event_id
    assert effect.correlation_id == cause.correlation_id
    assert effect.event_id != cause.event_id


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        new_envelope(order_created(), producer="order", occurred_at=datetime(2024, 1, 1))


def test_aware_datetimes_are_stored_in_utc() -> None:
    paris = datetime(2024, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    envelope = new_envelope(order_created(), producer="order", occurred_at=paris)
    assert envelope.occurred_at == paris
    assert envelope.occurred_at.tzinfo is UTC
    assert envelope.occurred_at.hour == 12


def test_envelope_must_agree_with_its_payload() -> None:
    good = new_envelope(order_created(), producer="order").model_dump()
    with pytest.raises(ValidationError, match="payload is OrderCreated v2"):
        Envelope[OrderCreated].model_validate(good | {"event_version": 1})
    with pytest.raises(ValidationError, match="payload is OrderCreated v2"):
        Envelope[OrderCreated].model_validate(good | {"event_type": "OrderConfirmed"})


def test_order_line_totals_are_integers() -> None:
    line = OrderLine(sku="apple", quantity=3, unit_price_cents=150)
    assert line.quantity * line.unit_price_cents == 450


def test_contracts_import_without_the_kafka_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['orjson'] = None\n"
        "sys.modules['confluent_kafka'] = None\n"
        "import shared_events, shared_events.schemas\n"
        "print(shared_events.__version__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == CONTRACTS_VERSION
