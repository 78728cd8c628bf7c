"""One trace per saga, read back from the stack's real Jaeger."""

import pytest

from saga_e2e.client import SagaClient, unique
from saga_e2e.jaeger import trace_of_order

pytestmark = [pytest.mark.e2e, pytest.mark.tracing]

ORDER, PAYMENT, INVENTORY = "order-service", "payment-service", "inventory-service"

CONFIRMED_CHAIN = [
    (ORDER, "POST /orders"),
    (ORDER, "publish order-events"),
    (PAYMENT, "process OrderCreated"),
    (PAYMENT, "publish payment-events"),
    (INVENTORY, "process PaymentProcessed"),
    (INVENTORY, "publish inventory-events"),
    (ORDER, "process ItemsReserved"),
    (ORDER, "publish order-events"),  # OrderConfirmed
]

REFUNDED_CHAIN = [
    (ORDER, "POST /orders"),
    (PAYMENT, "process OrderCreated"),
    (INVENTORY, "process PaymentProcessed"),
    (ORDER, "process InventoryFailed"),
    (ORDER, "publish order-events"),  # OrderCancelled
    (PAYMENT, "process OrderCancelled"),
    (PAYMENT, "publish payment-events"),  # PaymentRefunded
]


def _assert_chain(order_id: str, chain: list[tuple[str, str]]) -> None:
    trace = trace_of_order(order_id, until=chain)
    spans = trace.chain(chain)
    assert spans, f"trace {trace.trace_id or '(none)'} lacks the chain {chain}:\n{trace.outline()}"
    # Causal order is time order too: every hop starts after the one it follows.
    starts = [span.start_us for span in spans]
    assert starts == sorted(starts), [(s.service, s.name, s.start_us) for s in spans]
    assert {span.service for span in spans} == {ORDER, PAYMENT, INVENTORY}
    consumed = [s for s in spans if s.name.startswith("process ")]
    assert all(s.tags.get("saga.correlation_id") == order_id for s in consumed)


def test_a_confirmed_order_is_one_trace_across_the_three_services(saga: SagaClient) -> None:
    sku, customer = unique("sku"), unique("cust")
    saga.put_product(sku, quantity=5, price_cents=100)
    saga.open_account(customer, 1_000)
    order_id = saga.place_order(customer, [(sku, 1)]).json()["order_id"]
    assert saga.wait_terminal(order_id)["status"] == "CONFIRMED"

    _assert_chain(order_id, CONFIRMED_CHAIN)


def test_a_cancelled_order_traces_its_compensation_through_the_refund(saga: SagaClient) -> None:
    sku, customer = unique("sku"), unique("cust")
    saga.put_product(sku, quantity=0, price_cents=100)
    saga.open_account(customer, 1_000)
    order_id = saga.place_order(customer, [(sku, 1)]).json()["order_id"]
    order = saga.wait_terminal(order_id)
    assert (order["status"], order["cancel_reason"]) == ("CANCELLED", "out_of_stock")

    _assert_chain(order_id, REFUNDED_CHAIN)
