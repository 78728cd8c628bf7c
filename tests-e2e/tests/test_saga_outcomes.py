"""The saga's branches, driven over HTTP only."""

import pytest

from saga_e2e.client import SagaClient, unique

# In `make compat` too: together they carry every event each service consumes and produces.
pytestmark = [pytest.mark.e2e, pytest.mark.compat]


def test_funded_order_in_stock_is_confirmed_with_one_charge_and_its_items_held(
    saga: SagaClient,
) -> None:
    sku, customer = unique("sku"), unique("cust")
    saga.put_product(sku, quantity=5, price_cents=250)
    saga.open_account(customer, 10_000)

    response = saga.place_order(customer, [(sku, 2)])

    assert response.status_code == 201
    placed = response.json()
    assert placed["status"] == "PENDING"
    assert placed["total_cents"] == 500
    order = saga.wait_terminal(placed["order_id"])
    assert order["status"] == "CONFIRMED"
    assert order["cancel_reason"] is None
    assert saga.balance(customer) == 9_500
    assert saga.product(sku)["available"] == 3
    assert [h["event_type"] for h in order["history"]][:1] == ["OrderCreated"]
    assert "OrderConfirmed" in {h["event_type"] for h in order["history"]}


def test_order_beyond_the_balance_is_cancelled_for_payment_and_charges_nothing(
    saga: SagaClient,
) -> None:
    sku, customer = unique("sku"), unique("cust")
    saga.put_product(sku, quantity=5, price_cents=1_000)
    saga.open_account(customer, 999)

    order = saga.wait_terminal(saga.place_order(customer, [(sku, 1)]).json()["order_id"])

    assert (order["status"], order["cancel_reason"]) == ("CANCELLED", "payment_failed")
    assert saga.payments(order["order_id"]) == []
    assert saga.balance(customer) == 999
    assert saga.product(sku)["available"] == 5


def test_order_of_an_unknown_customer_is_cancelled_for_payment(saga: SagaClient) -> None:
    sku = unique("sku")
    saga.put_product(sku, quantity=5)

    order = saga.wait_terminal(saga.place_order(unique("nobody"), [(sku, 1)]).json()["order_id"])

    assert (order["status"], order["cancel_reason"]) == ("CANCELLED", "payment_failed")
    assert saga.payments(order["order_id"]) == []


def test_out_of_stock_order_is_cancelled_refunded_and_reserves_nothing(saga: SagaClient) -> None:
    plenty, scarce, customer = unique("sku"), unique("sku"), unique("cust")
    saga.put_product(plenty, quantity=100, price_cents=100)
    saga.put_product(scarce, quantity=1, price_cents=100)
    saga.open_account(customer, 10_000)

    order = saga.wait_terminal(
        saga.place_order(customer, [(plenty, 3), (scarce, 2)]).json()["order_id"]
    )

    assert (order["status"], order["cancel_reason"]) == ("CANCELLED", "out_of_stock")
    saga.wait_for(lambda: saga.balance(customer) == 10_000, "refund of the charge")
    kinds = sorted(p["kind"] for p in saga.payments(order["order_id"]))
    assert kinds == ["charge", "refund"]
    assert saga.product(plenty)["available"] == 100
    assert saga.product(scarce)["available"] == 1


def test_customer_cancel_after_confirmation_refunds_and_releases(saga: SagaClient) -> None:
    sku, customer = unique("sku"), unique("cust")
    saga.put_product(sku, quantity=4, price_cents=500)
    saga.open_account(customer, 5_000)
    order_id = saga.place_order(customer, [(sku, 3)]).json()["order_id"]
    assert saga.wait_terminal(order_id)["status"] == "CONFIRMED"

    response = saga.order.post(f"/orders/{order_id}/cancel")

    assert response.status_code == 202
    order = saga.order_status(order_id)
    assert (order["status"], order["cancel_reason"]) == ("CANCELLED", "customer_cancelled")
    saga.wait_for(lambda: saga.balance(customer) == 5_000, "refund after cancel")
    saga.wait_for(lambda: saga.product(sku)["available"] == 4, "release after cancel")
    assert {r["status"] for r in saga.reservations(order_id)} == {"RELEASED"}
    again = saga.order.post(f"/orders/{order_id}/cancel")
    assert again.status_code == 202
    history = [h["event_type"] for h in saga.order_status(order_id)["history"]]
    assert history.count("OrderCancelled") == 1
