"""Inputs the HTTP fuzzer found: they are 422 before any database work, never a 5xx.

(What all three apps share is tested once, in shared-events/tests/test_http_app.py.)"""

import tomllib
import warnings
from pathlib import Path
from typing import NoReturn

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from order_service.api import create_app
from order_service.metrics import Metrics

with warnings.catch_warnings():
    # Starlette prefers httpx2 to the workspace's httpx; its test client works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


class _NoDatabase:
    """The unit of work every request gets: invalid input must never use it."""

    def __getattr__(self, name: str) -> NoReturn:
        raise AssertionError("invalid input must not reach the unit of work")

    def __enter__(self) -> NoReturn:
        raise AssertionError("invalid input must not reach the unit of work")


@pytest.fixture
def client() -> TestClient:
    app = create_app(_NoDatabase, dict, Metrics())  # type: ignore[arg-type]
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/orders", {"customer_id": "a\x00b", "items": [{"sku": "S", "quantity": 1}]}),
        ("POST", "/orders", {"customer_id": "c", "items": [{"sku": "S\x00", "quantity": 1}]}),
        ("GET", "/orders?customer_id=a%00b", None),
        ("GET", "/catalog/a%00b", None),
    ],
)
def test_nul_characters_are_invalid_input(
    client: TestClient, method: str, url: str, body: object
) -> None:
    response = client.request(method, url, json=body)

    assert response.status_code == 422


def test_openapi_gives_the_service_version_of_its_pyproject() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    spec = create_app(_NoDatabase, dict, Metrics()).openapi()  # type: ignore[arg-type]

    assert spec["info"]["version"] == pyproject["project"]["version"]


def test_openapi_documents_error_answers() -> None:
    spec = create_app(_NoDatabase, dict, Metrics()).openapi()  # type: ignore[arg-type]

    assert "404" in spec["paths"]["/orders/{order_id}"]["get"]["responses"]
    assert "404" in spec["paths"]["/catalog/{sku}"]["get"]["responses"]
