"""`GET /orders?stuck=true`: open orders older than ORDER_SAGA_STUCK_AFTER_S."""

import warnings
from datetime import timedelta

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from order_service import handlers
from order_service.api import create_app
from order_service.handlers import PlaceOrder
from order_service.metrics import Metrics

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


@pytest.fixture
def client(uow, saga) -> TestClient:
    handlers.products_upserted([saga.product_upserted("SKU-1", 500)], uow)
    return TestClient(create_app(lambda: uow, dict, Metrics(), stuck_after_s=60))


def place(uow, customer, age_s):
    order = handlers.place_order(PlaceOrder(customer, (("SKU-1", 1),)), uow)
    uow.committed_orders[order.order_id].created_at -= timedelta(seconds=age_s)
    return str(order.order_id)


def ids(response):
    assert response.status_code == 200, response.text
    return {order["order_id"] for order in response.json()}


def test_stuck_lists_open_orders_older_than_the_threshold(client, uow, saga):
    stuck_pending = place(uow, "a", 61)
    stuck_paid = place(uow, "b", 120)
    handlers.payments_processed([saga.payment_processed(stuck_paid)], uow)
    fresh = place(uow, "c", 5)
    confirmed = place(uow, "d", 600)
    handlers.items_reserved([saga.items_reserved(confirmed)], uow)
    cancelled = place(uow, "e", 600)
    handlers.payments_failed([saga.payment_failed(cancelled)], uow)

    assert ids(client.get("/orders", params={"stuck": "true"})) == {stuck_pending, stuck_paid}
    assert ids(client.get("/orders", params={"stuck": "true", "status": "PENDING"})) == {
        stuck_pending
    }
    everything = {stuck_pending, stuck_paid, fresh, confirmed, cancelled}
    assert ids(client.get("/orders", params={"stuck": "false"})) == everything
    assert ids(client.get("/orders")) == everything


@pytest.mark.parametrize("value", ["maybe", "", "2"])
def test_a_bad_stuck_value_is_a_422_naming_the_field(client, value):
    response = client.get("/orders", params={"stuck": value})

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["query", "stuck"]]
