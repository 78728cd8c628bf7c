"""The HTTP skeleton every service is built on: health, metrics, errors, the unit of work."""

import warnings
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel
from starlette.exceptions import StarletteDeprecationWarning

from shared_events.runtime.http import ErrorOut, not_found, service_app, unit_of_work
from shared_events.runtime.metrics import ServiceMetrics

with warnings.catch_warnings():
    # Starlette prefers httpx2 to the workspace's httpx; its test client works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


class Thing(BaseModel):
    name: str


class Counted:
    """A unit of work that only says which one it is."""

    made = 0

    def __init__(self) -> None:
        Counted.made += 1
        self.number = Counted.made


Uow = Annotated[Counted, Depends(unit_of_work)]


def _routes() -> APIRouter:
    router = APIRouter()

    @router.post("/things", status_code=201)
    def add_thing(body: Thing) -> Thing:
        return body

    @router.get("/things/{name}", responses=not_found("Unknown thing"))
    def get_thing(name: str) -> Thing:
        raise HTTPException(404, f"thing {name} not found")

    @router.get("/uow")
    def which_uow(uow: Uow) -> int:
        return uow.number

    return router


def _app(parts: dict[str, bool], metrics: ServiceMetrics | None = None) -> Any:
    return service_app(
        "thing service",
        "1.2.3",
        _routes(),
        uow_factory=Counted,
        readiness=lambda: parts,
        metrics=metrics or ServiceMetrics("thing"),
    )


@pytest.fixture
def client() -> TestClient:
    return TestClient(_app({"database": False, "relay": True}), raise_server_exceptions=False)


def test_live_answers_while_parts_are_not_ready(client: TestClient) -> None:
    response = client.get("/health/live")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readiness_names_what_is_missing(client: TestClient) -> None:
    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json() == {
        "status": "not ready",
        "checks": {"database": False, "relay": True},
        "not_ready": ["database"],
    }


def test_ready_when_every_part_is() -> None:
    client = TestClient(_app({"database": True, "consumer": True}))

    response = client.get("/health/ready")

    assert (response.status_code, response.json()) == (
        200,
        {"status": "ready", "checks": {"database": True, "consumer": True}, "not_ready": []},
    )


def test_a_body_that_is_not_utf8_is_422_like_any_invalid_json(client: TestClient) -> None:
    response = client.post(
        "/things", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"type": "json_invalid", "loc": ["body"], "msg": "body is not UTF-8 JSON"}]
    }


def test_other_http_errors_keep_fastapis_shape(client: TestClient) -> None:
    unknown = client.get("/things/x")
    nowhere = client.get("/nowhere")

    assert (unknown.status_code, unknown.json()) == (404, {"detail": "thing x not found"})
    assert (nowhere.status_code, nowhere.json()) == (404, {"detail": "Not Found"})


def test_each_request_gets_a_fresh_unit_of_work_from_the_apps_factory(
    client: TestClient,
) -> None:
    first, second = client.get("/uow").json(), client.get("/uow").json()

    assert second == first + 1


def test_metrics_count_the_services_routes_by_template() -> None:
    metrics = ServiceMetrics("thing")
    client = TestClient(_app({}, metrics))
    client.get("/things/a")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert (
        'saga_http_requests_total{method="GET",route="/things/{name}",service="thing",status="404"}'
        in response.text
    )


def test_openapi_documents_the_apps_own_routes_then_health() -> None:
    spec = _app({}).openapi()

    assert (spec["info"]["title"], spec["info"]["version"]) == ("thing service", "1.2.3")
    assert list(spec["paths"]) == [
        "/things",
        "/things/{name}",
        "/uow",
        "/health/live",
        "/health/ready",
    ]
    assert "503" in spec["paths"]["/health/ready"]["get"]["responses"]
    assert "404" in spec["paths"]["/things/{name}"]["get"]["responses"]
    assert spec["components"]["schemas"]["ErrorOut"] == ErrorOut.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
