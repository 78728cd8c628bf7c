"""Redelivery and reordering, injected with a raw Kafka producer."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from saga_e2e import kafka_tap
from saga_e2e.client import SagaClient, unique
from shared_events.contracts.orders import CancelReason, OrderCancelled, OrderCreated, OrderLine
from shared_events.contracts.payments import PaymentProcessed
from shared_events.envelope import new_envelope
from shared_events.kafka.codec import encode

# In `make compat` too: together they carry every event each service consumes and produces.
pytestmark = [pytest.mark.e2e, pytest.mark.compat]


def test_republished_order_created_charges_once(saga: SagaClient) -> None:
    sku, customer = unique("sku"), unique("cust")
    saga.put_product(sku, quantity=10, price_cents=300)
    saga.open_account(customer, 3_000)
    before = datetime.now(UTC)
    order_id = saga.place_order(customer, [(sku, 1)]).json()["order_id"]
    assert saga.wait_terminal(order_id)["status"] == "CONFIRMED"
    original = kafka_tap.find_record("order-events", order_id, "OrderCreated", before)

    duplicate = kafka_tap.publish(original.topic, original.key, original.value, original.headers)
    kafka_tap.wait_consumed("payment-service", duplicate)
    kafka_tap.wait_consumed("inventory-service", duplicate)

    assert json.loads(duplicate.value)["event_id"] == json.loads(original.value)["event_id"]
    assert [p["kind"] for p in saga.payments(order_id)] == ["charge"]
    assert saga.balance(customer) == 2_700
    assert saga.product(sku)["available"] == 9


def test_order_cancelled_seen_before_payment_processed_leaves_no_stock_held(
    saga: SagaClient,
) -> None:
    """Inventory gets OrderCreated and OrderCancelled first, then a late PaymentProcessed."""
    sku = unique("sku")
    saga.put_product(sku, quantity=3, price_cents=700)
    order_id = uuid.uuid4()
    created = new_envelope(
        OrderCreated(
            order_id=order_id,
            customer_id=unique("nobody"),
            currency="EUR",
            items=(OrderLine(sku=sku, quantity=2, unit_price_cents=700),),
            total_cents=1_400,
        ),
        producer="e2e",
    )
    cancelled = new_envelope(
        OrderCancelled(order_id=order_id, reason=CancelReason.CUSTOMER_CANCELLED), producer="e2e"
    )
    late_payment = new_envelope(
        PaymentProcessed(order_id=order_id, payment_id=uuid.uuid4(), amount_cents=1_400),
        producer="e2e",
    )

    for envelope in (created, cancelled):
        record = encode(envelope)
        landed = kafka_tap.publish(record.topic, record.key, record.value, record.headers)
    # The cancel must have been applied before the payment exists at all (another topic).
    kafka_tap.wait_consumed("inventory-service", landed)
    record = encode(late_payment)
    landed = kafka_tap.publish(record.topic, record.key, record.value, record.headers)
    kafka_tap.wait_consumed("inventory-service", landed)

    assert [r for r in saga.reservations(str(order_id)) if r["status"] == "RESERVED"] == []
    product = saga.product(sku)
    assert (product["available"], product["reserved"]) == (3, 0)
