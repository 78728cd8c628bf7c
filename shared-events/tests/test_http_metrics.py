"""Request metrics as pure ASGI middleware: route templates, statuses, failures."""

import warnings

import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.exceptions import StarletteDeprecationWarning

from shared_events.runtime.http_metrics import RequestMetrics
from shared_events.runtime.metrics import ServiceMetrics

with warnings.catch_warnings():
    # Starlette prefers httpx2 to the workspace's httpx; its test client works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


@pytest.fixture
def served() -> tuple[TestClient, CollectorRegistry]:
    metrics = ServiceMetrics("t")
    app = FastAPI()
    app.add_middleware(RequestMetrics, observe=metrics.request)

    @app.get("/orders/{order_id}")
    def get_order(order_id: str) -> dict[str, str]:
        return {"order_id": order_id}

    @app.post("/boom")
    def boom() -> None:
        raise RuntimeError("handler failed")

    return TestClient(app, raise_server_exceptions=False), metrics.registry


def _count(registry: CollectorRegistry, method: str, route: str, status: str) -> float:
    labels = {"service": "t", "method": method, "route": route, "status": status}
    return registry.get_sample_value("saga_http_requests_total", labels) or 0.0


def test_requests_are_counted_by_route_template_and_status(served) -> None:
    client, registry = served
    for order_id in ("a", "b"):
        assert client.get(f"/orders/{order_id}").status_code == 200
    assert client.get("/nowhere").status_code == 404

    assert _count(registry, "GET", "/orders/{order_id}", "200") == 2
    assert _count(registry, "GET", "unmatched", "404") == 1
    timed = {"service": "t", "method": "GET", "route": "/orders/{order_id}"}
    assert registry.get_sample_value("saga_http_request_duration_seconds_count", timed) == 2


def test_a_request_whose_handler_raises_is_counted_as_a_500(served) -> None:
    client, registry = served
    assert client.post("/boom").status_code == 500
    assert _count(registry, "POST", "/boom", "500") == 1
