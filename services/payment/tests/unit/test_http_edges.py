"""Inputs the HTTP fuzzer found: they are 422 before any database work, never a 5xx.

(What all three apps share is tested once, in shared-events/tests/test_http_app.py.)"""

import tomllib
import warnings
from pathlib import Path
from typing import Any, NoReturn

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from payment_service.api import create_app
from payment_service.metrics import Metrics

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


def _app() -> Any:
    return create_app(_NoDatabase, dict, Metrics())  # type: ignore[arg-type]


@pytest.fixture
def client() -> TestClient:
    return TestClient(_app(), raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/accounts", {"customer_id": "a\x00b", "balance_cents": 1}),
        ("GET", "/accounts/a%00b", None),
        ("POST", "/accounts/a%00b/deposits", {"amount_cents": 1}),
    ],
)
def test_nul_characters_are_invalid_input(
    client: TestClient, method: str, url: str, body: object
) -> None:
    response = client.request(method, url, json=body)

    assert response.status_code == 422


def test_openapi_gives_the_service_version_of_its_pyproject() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    spec = _app().openapi()

    assert spec["info"]["version"] == pyproject["project"]["version"]


def test_openapi_documents_error_answers() -> None:
    spec = _app().openapi()

    assert "404" in spec["paths"]["/accounts/{customer_id}"]["get"]["responses"]
    assert "409" in spec["paths"]["/accounts"]["post"]["responses"]
