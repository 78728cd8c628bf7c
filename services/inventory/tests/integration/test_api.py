"""The HTTP API against the real database (consumer and relay not started)."""

import itertools
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self
from uuid import uuid4

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import StarletteDeprecationWarning

from inventory_service.bootstrap import bootstrap
from inventory_service.domain import Product
from inventory_service.settings import Settings
from inventory_service.tables import products
from inventory_service.unit_of_work import SqlUnitOfWork
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


class _LocksMeet(SqlUnitOfWork):
    """Each PUT's first lock waits for every other PUT's: all find no row, all insert."""

    def __init__(self, sessions: sessionmaker[Session], meet: threading.Barrier) -> None:
        super().__init__(sessions)
        self._meet = meet

    def __enter__(self) -> Self:
        super().__enter__()
        lock, locks = self.products.lock, itertools.count()

        def first_lock_meets(skus: Iterable[str]) -> dict[str, Product]:
            found = lock(skus)
            if next(locks) == 0:
                self._meet.wait(timeout=30)
            return found

        self.products.lock = first_lock_meets  # type: ignore[method-assign]
        return self


RACERS = 16


@pytest.mark.parametrize("locks_meet", [True, False], ids=["after-their-locks", "at-once"])
def test_first_puts_of_a_sku_racing_all_succeed_and_leave_one_of_them(
    inventory_settings: Settings,
    engine: Engine,
    sessions: sessionmaker[Session],
    sku: Callable[[str], str],
    staged: Any,
    locks_meet: bool,
) -> None:
    service = bootstrap(inventory_settings, engine=engine, consume=False, relay=False)
    assert service.app is not None
    meet = threading.Barrier(RACERS)
    if locks_meet:  # the race for sure: every PUT has found no row before any inserts
        service.app.state.uow_factory = lambda: _LocksMeet(sessions, meet)
    name = sku("raced")
    bodies = [{"name": f"n{i}", "price_cents": 100 + i, "quantity": i} for i in range(RACERS)]

    with TestClient(service.app) as http:

        def put(body: dict[str, Any]) -> Any:
            if not locks_meet:
                meet.wait(timeout=30)
            return http.put(f"/products/{name}", json=body)

        with ThreadPoolExecutor(RACERS) as pool:
            responses = list(pool.map(put, bodies))
        final = http.get(f"/products/{name}").json()

    assert sorted(r.status_code for r in responses) == [200] * (RACERS - 1) + [201]
    assert [r.json()["name"] for r in responses] == [b["name"] for b in bodies]
    count = select(func.count()).select_from(products).where(products.c.sku == name)
    with engine.connect() as conn:
        assert conn.execute(count).scalar_one() == 1
    winner = next(b for b in bodies if b["name"] == final["name"])
    assert final == {
        "sku": name,
        "name": winner["name"],
        "price_cents": winner["price_cents"],
        "available": winner["quantity"],
        "reserved": 0,
    }
    # Every PUT told the catalog, the last one what the product is now.
    events = staged(engine, name)
    assert len(events) == RACERS
    assert events[-1].payload.name == final["name"]


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


def test_reservations_are_listed_per_order_only(client: TestClient) -> None:
    response = client.get("/reservations")

    assert response.status_code == 422
    assert _fields(response) == {"query", "order_id"}


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
