"""The HTTP API against real Postgres (consumer and relay not started)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import URL

from payment_service.bootstrap import bootstrap
from payment_service.settings import Settings
from shared_events.runtime.metrics import sample_value

with warnings.catch_warnings():
    # Starlette wants `httpx2` for its TestClient; the workspace pins `httpx` (asked the lead).
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

if TYPE_CHECKING:
    from conftest import PaymentDriver

pytestmark = pytest.mark.integration


@pytest.fixture
def client(payment_db_url: URL | str, payment_engine: object) -> Iterator[TestClient]:
    service = bootstrap(
        Settings(), engine=create_engine(payment_db_url), consume=False, relay=False
    )
    with TestClient(service.app) as client:
        yield client


def _customer() -> str:
    return f"customer-{uuid4()}"


def _open(client: TestClient, balance: int = 1000) -> str:
    customer = _customer()
    response = client.post("/accounts", json={"customer_id": customer, "balance_cents": balance})
    assert response.status_code == 201, response.text
    return customer


def _error_fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return [str(error["loc"][-1]) for error in response.json()["detail"]]


def test_opening_an_account_returns_it(client: TestClient) -> None:
    customer = _customer()

    response = client.post("/accounts", json={"customer_id": customer, "balance_cents": 500})

    assert response.status_code == 201
    assert response.json() == {"customer_id": customer, "balance_cents": 500}
    assert client.get(f"/accounts/{customer}").json() == response.json()


def test_opening_an_existing_account_conflicts_and_keeps_the_balance(client: TestClient) -> None:
    customer = _open(client, 500)

    response = client.post("/accounts", json={"customer_id": customer, "balance_cents": 9})

    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]
    assert client.get(f"/accounts/{customer}").json()["balance_cents"] == 500


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"balance_cents": 100}, "customer_id"),
        ({"customer_id": "", "balance_cents": 100}, "customer_id"),
        ({"customer_id": "   ", "balance_cents": 100}, "customer_id"),
        ({"customer_id": "X"}, "balance_cents"),
        ({"customer_id": "X", "balance_cents": -1}, "balance_cents"),
        ({"customer_id": "X", "balance_cents": 10.5}, "balance_cents"),
        ({"customer_id": "X", "balance_cents": 10.0}, "balance_cents"),
        ({"customer_id": "X", "balance_cents": "100"}, "balance_cents"),
        ({"customer_id": "X", "balance_cents": True}, "balance_cents"),
        ({"customer_id": "X", "balance_cents": None}, "balance_cents"),
    ],
)
def test_an_invalid_account_is_rejected_naming_the_field_and_persists_nothing(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    customer = _customer()
    if body.get("customer_id") == "X":
        body = {**body, "customer_id": customer}

    response = client.post("/accounts", json=body)

    assert field in _error_fields(response)
    assert client.get(f"/accounts/{customer}").status_code == 404


def test_an_unknown_account_is_404(client: TestClient) -> None:
    response = client.get(f"/accounts/{_customer()}")

    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


def test_a_deposit_returns_the_new_balance(client: TestClient) -> None:
    customer = _open(client, 1000)

    response = client.post(f"/accounts/{customer}/deposits", json={"amount_cents": 250})

    assert response.status_code == 200
    assert response.json() == {"customer_id": customer, "balance_cents": 1250}


def test_a_deposit_to_an_unknown_account_is_404(client: TestClient) -> None:
    response = client.post(f"/accounts/{_customer()}/deposits", json={"amount_cents": 250})

    assert response.status_code == 404


@pytest.mark.parametrize("amount", [0, -5, 2.5, 1.0, "7", None, False])
def test_an_invalid_deposit_is_rejected_naming_the_field_and_persists_nothing(
    client: TestClient, amount: Any
) -> None:
    customer = _open(client, 1000)

    response = client.post(f"/accounts/{customer}/deposits", json={"amount_cents": amount})

    assert _error_fields(response) == ["amount_cents"]
    assert client.get(f"/accounts/{customer}").json()["balance_cents"] == 1000


def test_a_deposit_without_amount_is_rejected(client: TestClient) -> None:
    customer = _open(client)

    assert _error_fields(client.post(f"/accounts/{customer}/deposits", json={})) == ["amount_cents"]


def test_payments_list_the_orders_charge_and_refund(
    client: TestClient, driver: PaymentDriver
) -> None:
    customer, order_id = _open(client, 1000), uuid4()
    driver.deliver(driver.created(order_id, customer, 300))
    driver.deliver(driver.cancelled(order_id))

    response = client.get("/payments", params={"order_id": str(order_id)})

    assert response.status_code == 200
    rows = response.json()
    assert [(r["kind"], r["amount_cents"], r["customer_id"]) for r in rows] == [
        ("charge", 300, customer),
        ("refund", 300, customer),
    ]
    assert {r["order_id"] for r in rows} == {str(order_id)}
    assert rows[0]["payment_id"] != rows[1]["payment_id"]
    assert client.get(f"/accounts/{customer}").json()["balance_cents"] == 1000


def test_payments_of_an_unknown_order_are_empty(client: TestClient) -> None:
    assert client.get("/payments", params={"order_id": str(uuid4())}).json() == []


@pytest.mark.parametrize("params", [{}, {"order_id": "not-a-uuid"}])
def test_payments_need_a_valid_order_id(client: TestClient, params: dict[str, str]) -> None:
    assert _error_fields(client.get("/payments", params=params)) == ["order_id"]


def test_the_ledger_summary_is_balanced(client: TestClient, driver: PaymentDriver) -> None:
    before = client.get("/ledger/summary").json()
    customer = _open(client, 1000)
    client.post(f"/accounts/{customer}/deposits", json={"amount_cents": 100})
    driver.deliver(driver.created(uuid4(), customer, 400))

    after = client.get("/ledger/summary").json()

    assert after["balanced"] is True
    assert after["opening_cents"] - before["opening_cents"] == 1000
    assert after["deposits_cents"] - before["deposits_cents"] == 100
    assert after["charges_cents"] - before["charges_cents"] == 400


def test_health_metrics_and_docs_are_served(client: TestClient) -> None:
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True}
    client.get(f"/accounts/{_customer()}")
    metrics = client.get("/metrics").text
    route = {"service": "payment", "method": "GET", "route": "/accounts/{customer_id}"}
    assert sample_value(metrics, "saga_http_requests_total", **route) == 1
    assert client.get("/docs").status_code == 200
    assert "/accounts" in client.get("/openapi.json").json()["paths"]


def test_readiness_names_the_parts_that_are_not_ready(payment_db_url: URL | str) -> None:
    service = bootstrap(Settings(), engine=create_engine(payment_db_url))
    # Neither the consumer nor the relay are started (no lifespan): both are reported.
    client = TestClient(service.app)
    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["not_ready"] == ["consumer", "relay"]
    metrics = client.get("/metrics").text
    # The outbox gauges are read from the database at scrape time, with no relay running.
    assert sample_value(metrics, "saga_outbox_backlog_rows", service="payment") is not None
    service.engine.dispose()
