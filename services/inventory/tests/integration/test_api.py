"""The HTTP API against the real database (consumer and relay not started)."""

import warnings
from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import Engine
from starlette.exceptions import StarletteDeprecationWarning

from inventory_service.bootstrap import bootstrap
from inventory_service.settings import Settings
from shared_events.runtime.metrics import sample_value

with warnings.catch_warnings():
    # Starlette prefers httpx2 to the workspace's httpx; its test client works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


@pytest.fixture
def client(inventory_settings: Settings, engine: Engine) -> Iterator[TestClient]:
    service = bootstrap(inventory_settings, engine=engine, consume=False, relay=False)
    assert service.app is not None
    with TestClient(service.app) as client:
        yield client


def _fields(response: Any) -> set[str]:
    return {str(part) for error in response.json()["detail"] for part in error["loc"]}


def test_putting_a_new_product_returns_201_and_the_product(
    client: TestClient, sku: Callable[[str], str], engine: Engine, staged: Any
) -> None:
    name = sku("A")
    response = client.put(
        f"/products/{name}", json={"name": "Apple", "price_cents": 120, "quantity": 4}
    )

    assert response.status_code == 201
    assert response.json() == {
        "sku": name,
        "name": "Apple",
        "price_cents": 120,
        "available": 4,
        "reserved": 0,
    }
    assert [e.event_type for e in staged(engine, name)] == ["ProductUpserted"]


def test_putting_an_existing_product_returns_200_and_replaces_it(
    client: TestClient, sku: Callable[[str], str]
) -> None:
    name = sku("A")
    client.put(f"/products/{name}", json={"name": "Apple", "price_cents": 120, "quantity": 4})

    response = client.put(
        f"/products/{name}", json={"name": "Apricot", "price_cents": 90, "quantity": 7}
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Apricot"
    assert client.get(f"/products/{name}").json() == {
        "sku": name,
        "name": "Apricot",
        "price_cents": 90,
        "available": 7,
        "reserved": 0,
    }


def test_products_are_listed_by_sku(client: TestClient, sku: Callable[[str], str]) -> None:
    b, a = sku("B"), sku("A")
    for name in (b, a):
        client.put(f"/products/{name}", json={"name": name, "price_cents": 1, "quantity": 1})

    listed = [p["sku"] for p in client.get("/products").json() if p["sku"] in (a, b)]

    assert listed == [a, b]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "n", "price_cents": 0, "quantity": 1}, "price_cents"),
        ({"name": "n", "price_cents": -3, "quantity": 1}, "price_cents"),
        ({"name": "n", "price_cents": 1.5, "quantity": 1}, "price_cents"),
        ({"name": "n", "price_cents": "100", "quantity": 1}, "price_cents"),
        ({"name": "n", "price_cents": 100, "quantity": -1}, "quantity"),
        ({"name": "n", "price_cents": 100, "quantity": "two"}, "quantity"),
        ({"name": "n", "price_cents": 100}, "quantity"),
        ({"price_cents": 100, "quantity": 1}, "name"),
        ({"name": "   ", "price_cents": 100, "quantity": 1}, "name"),
    ],
)
def test_an_invalid_product_is_rejected_naming_the_field_and_persists_nothing(
    client: TestClient,
    sku: Callable[[str], str],
    engine: Engine,
    staged: Any,
    body: dict[str, Any],
    field: str,
) -> None:
    name = sku("bad")
    response = client.put(f"/products/{name}", json=body)

    assert response.status_code == 422
    assert field in _fields(response)
    assert client.get(f"/products/{name}").status_code == 404
    assert staged(engine, name) == []


def test_a_too_long_sku_is_rejected_naming_the_sku(client: TestClient) -> None:
    response = client.put(
        "/products/" + "x" * 65, json={"name": "n", "price_cents": 1, "quantity": 1}
    )

    assert response.status_code == 422
    assert "sku" in _fields(response)


def test_an_unknown_sku_is_404(client: TestClient, sku: Callable[[str], str]) -> None:
    response = client.get(f"/products/{sku('nope')}")

    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


def test_reservations_of_an_unknown_order_are_empty(client: TestClient) -> None:
    response = client.get("/reservations", params={"order_id": str(uuid4())})

    assert (response.status_code, response.json()) == (200, [])


def test_reservations_need_a_uuid_order_id(client: TestClient) -> None:
    response = client.get("/reservations", params={"order_id": "not-a-uuid"})

    assert response.status_code == 422
    assert "order_id" in _fields(response)


def test_health_docs_and_metrics_are_served(client: TestClient) -> None:
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")
    assert (ready.status_code, ready.json()["checks"]) == (200, {"database": True})
    assert client.get("/docs").status_code == 200
    assert "/products/{sku}" in client.get("/openapi.json").json()["paths"]
    metrics = client.get("/metrics").text
    live = {"service": "inventory", "method": "GET", "route": "/health/live", "status": "200"}
    assert sample_value(metrics, "saga_http_requests_total", **live) == 1
    # Read from the outbox at scrape time.
    assert sample_value(metrics, "saga_outbox_backlog_rows", service="inventory") is not None


def test_readiness_names_the_parts_that_are_not_ready(inventory_settings: Settings) -> None:
    unreachable = inventory_settings.model_copy(update={"db_port": 1})
    service = bootstrap(unreachable, consume=False, relay=False)
    assert service.app is not None
    with TestClient(service.app) as client:
        response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["not_ready"] == ["database"]
    service.engine.dispose()
