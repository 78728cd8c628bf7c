"""The operator pages over the real database: a peer that does not answer is shown as
unavailable (never as "nothing there"), stuck orders are marked, bad filters are refused."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from order_service.bootstrap import bootstrap
from order_service.consumer import HANDLERS
from order_service.settings import Settings

NOBODY = "http://127.0.0.1:1"  # nothing listens on port 1


@pytest.fixture
def pages(order_engine: Engine, kafka_bootstrap: str) -> Iterator[TestClient]:
    settings = Settings(
        payment_url=NOBODY,
        inventory_url=NOBODY,
        jaeger_ui_url="http://jaeger.example:16686",
        kafka_bootstrap_servers=kafka_bootstrap,
        saga_stuck_after_s=1,
    )
    service = bootstrap(settings, engine=order_engine, consume=False, relay=False)
    assert service.app is not None
    with TestClient(service.app) as client:
        yield client


@pytest.fixture
def order_id(pages: TestClient, order_sessions, saga) -> str:
    with order_sessions.begin() as session:
        HANDLERS["ProductUpserted"]([saga.product_upserted("UI-1", 300)], session)
    body = {"customer_id": "ui-customer", "items": [{"sku": "UI-1", "quantity": 2}]}
    response = pages.post("/orders", json=body)
    assert response.status_code == 201
    return str(response.json()["order_id"])


def test_peers_that_do_not_answer_are_shown_as_unavailable(pages: TestClient, order_id) -> None:
    page = pages.get(f"/ui/orders/{order_id}")

    assert page.status_code == 200
    assert "unavailable: the payment service did not answer" in page.text
    assert "unavailable: the inventory service did not answer" in page.text
    assert "no charge, no refund" not in page.text and "nothing reserved" not in page.text
    assert "OrderCreated" in page.text
    assert "http://jaeger.example:16686/search?service=order-service" in page.text


def test_an_open_order_past_the_threshold_is_marked_stuck(
    pages: TestClient, order_id, order_engine: Engine
) -> None:
    with order_engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE orders.orders SET created_at = now() - interval '1 hour'"
                " WHERE order_id = :id"
            ),
            {"id": order_id},
        )

    listing = pages.get("/ui/", params={"customer_id": "ui-customer"})

    assert listing.status_code == 200
    row = next(r for r in listing.text.split("<tr") if order_id in r)
    assert "is-stuck" in row and ">stuck<" in row
    assert ">stuck<" in pages.get(f"/ui/orders/{order_id}").text


def test_bad_filters_are_refused_naming_the_field(pages: TestClient) -> None:
    wrong_status = pages.get("/ui/", params={"status": "LOST"})
    assert wrong_status.status_code == 422
    assert wrong_status.json()["detail"][0]["loc"] == ["query", "status"]
    assert pages.get("/ui/", params={"limit": 0}).status_code == 422
    assert pages.get("/ui/orders/not-a-uuid").status_code == 422
    missing = pages.get("/ui/orders/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
