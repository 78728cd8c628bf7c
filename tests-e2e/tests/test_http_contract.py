"""HTTP hygiene: idempotency keys and 422s that name the field and persist nothing."""

from typing import Any

import pytest

from saga_e2e.client import SagaClient, unique

pytestmark = pytest.mark.e2e


def test_same_idempotency_key_and_body_return_the_same_order(saga: SagaClient) -> None:
    sku, customer, key = unique("sku"), unique("cust"), unique("key")
    saga.put_product(sku, quantity=5)
    saga.open_account(customer, 10_000)

    first = saga.place_order(customer, [(sku, 1)], key=key)
    second = saga.place_order(customer, [(sku, 1)], key=key)
    different = saga.place_order(customer, [(sku, 2)], key=key)

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["order_id"] == second.json()["order_id"]
    assert different.status_code == 422
    listed = saga.order.get("/orders", params={"customer_id": customer}).json()
    assert len(listed) == 1


def _field_names(body: dict[str, Any]) -> set[str]:
    return {str(part) for error in body["detail"] for part in error["loc"]}


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([], "items"),
        ([{"sku": "SKU", "quantity": 0}], "quantity"),
        ([{"sku": "SKU", "quantity": -1}], "quantity"),
        ([{"sku": "SKU", "quantity": "two"}], "quantity"),
        ([{"sku": "no-such-sku", "quantity": 1}], "sku"),
        ([{"quantity": 1}], "sku"),
        ("not-a-list", "items"),
    ],
)
def test_invalid_order_is_rejected_naming_the_field_and_persists_nothing(
    saga: SagaClient, items: Any, field: str
) -> None:
    sku, customer = unique("sku"), unique("cust")
    saga.put_product(sku, quantity=5)
    body_items = (
        [
            {**item, "sku": sku} if isinstance(item, dict) and item.get("sku") == "SKU" else item
            for item in items
        ]
        if isinstance(items, list)
        else items
    )

    response = saga.order.post("/orders", json={"customer_id": customer, "items": body_items})

    assert response.status_code == 422
    assert field in _field_names(response.json())
    assert saga.order.get("/orders", params={"customer_id": customer}).json() == []


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/accounts", {"customer_id": "x", "balance_cents": -1}, "balance_cents"),
        ("/accounts", {"customer_id": "x", "balance_cents": 1.5}, "balance_cents"),
        ("/accounts", {"balance_cents": 10}, "customer_id"),
    ],
)
def test_invalid_account_is_rejected_naming_the_field(
    saga: SagaClient, path: str, body: dict[str, Any], field: str
) -> None:
    body = {**body, "customer_id": unique("cust")} if "customer_id" in body else body
    response = saga.payment.post(path, json=body)
    assert response.status_code == 422
    assert field in _field_names(response.json())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "n", "price_cents": 0, "quantity": 1}, "price_cents"),
        ({"name": "n", "price_cents": 100, "quantity": -1}, "quantity"),
        ({"price_cents": 100, "quantity": 1}, "name"),
    ],
)
def test_invalid_product_is_rejected_naming_the_field_and_persists_nothing(
    saga: SagaClient, body: dict[str, Any], field: str
) -> None:
    sku = unique("sku")
    response = saga.inventory.put(f"/products/{sku}", json=body)
    assert response.status_code == 422
    assert field in _field_names(response.json())
    assert saga.inventory.get(f"/products/{sku}").status_code == 404


def test_unknown_ids_are_404(saga: SagaClient) -> None:
    assert saga.order.get("/orders/00000000-0000-0000-0000-000000000000").status_code == 404
    assert saga.payment.get(f"/accounts/{unique('nobody')}").status_code == 404
    assert saga.inventory.get(f"/products/{unique('sku')}").status_code == 404
    assert saga.order.get(f"/catalog/{unique('sku')}").status_code == 404
