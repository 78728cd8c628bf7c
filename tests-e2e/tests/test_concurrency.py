"""Many orders at once: stock and balances are never oversold."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from saga_e2e.client import SagaClient, unique

pytestmark = pytest.mark.e2e


def test_fifty_orders_racing_for_ten_units_confirm_exactly_ten(saga: SagaClient) -> None:
    sku = unique("sku")
    saga.put_product(sku, quantity=10, price_cents=100)
    customers = [unique("cust") for _ in range(50)]
    for customer in customers:
        saga.open_account(customer, 1_000)

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda c: saga.place_order(c, [(sku, 1)]), customers))
    assert [r.status_code for r in responses] == [201] * 50
    orders = [saga.wait_terminal(r.json()["order_id"], deadline_s=60) for r in responses]

    outcomes = sorted((o["status"], o["cancel_reason"]) for o in orders)
    assert outcomes.count(("CONFIRMED", None)) == 10
    assert outcomes.count(("CANCELLED", "out_of_stock")) == 40
    product = saga.product(sku)
    assert (product["available"], product["reserved"]) == (0, 10)
    for order in orders:
        if order["status"] == "CANCELLED":
            saga.wait_for(lambda o=order: saga.balance(o["customer_id"]) == 1_000, "refund")


def test_concurrent_orders_never_overdraw_a_balance(saga: SagaClient) -> None:
    sku, customer = unique("sku"), unique("cust")
    saga.put_product(sku, quantity=100, price_cents=1_000)
    saga.open_account(customer, 5_000)

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda _: saga.place_order(customer, [(sku, 1)]), range(12)))
    orders = [saga.wait_terminal(r.json()["order_id"], deadline_s=60) for r in responses]

    confirmed = [o for o in orders if o["status"] == "CONFIRMED"]
    assert len(confirmed) == 5
    assert {o["cancel_reason"] for o in orders if o not in confirmed} == {"payment_failed"}
    assert saga.balance(customer) == 0
