"""The HTTP API against the real database (consumer and relay not started)."""

import threading
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest
from sqlalchemy import func, select, text, update

from order_service.consumer import HANDLERS
from order_service.handlers import PlaceOrder
from order_service.tables import idempotency_keys, orders, outbox
from shared_events.runtime.metrics import sample_value

pytestmark = pytest.mark.integration

ORDER_FIELDS = {
    "order_id",
    "customer_id",
    "items",
    "total_cents",
    "status",
    "cancel_reason",
    "created_at",
    "updated_at",
    "history",
}


@pytest.fixture
def catalog(order_sessions, saga):
    handle = HANDLERS["ProductUpserted"]
    for sku, price in [("SKU-1", 250), ("SKU-2", 1000)]:
        with order_sessions.begin() as session:
            handle([saga.product_upserted(sku, price, name=f"Product {sku}")], session)


def place(client, *items, customer="alice", key=None):
    body = {"customer_id": customer, "items": [{"sku": s, "quantity": q} for s, q in items]}
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/orders", json=body, headers=headers)


def outbox_types(order_engine):
    with order_engine.connect() as connection:
        rows = connection.execute(select(outbox.c.headers).order_by(outbox.c.id))
        return [dict(h)["event_type"] for (h,) in rows]


def test_placing_an_order_answers_201_with_the_pending_order(client, catalog):
    response = place(client, ("SKU-1", 2), ("SKU-2", 1))

    assert response.status_code == 201
    order = response.json()
    assert set(order) == ORDER_FIELDS
    assert order["status"] == "PENDING" and order["cancel_reason"] is None
    assert order["items"] == [
        {"sku": "SKU-1", "quantity": 2, "unit_price_cents": 250},
        {"sku": "SKU-2", "quantity": 1, "unit_price_cents": 1000},
    ]
    assert order["total_cents"] == 1500
    [entry] = order["history"]
    assert set(entry) == {"event_type", "event_id", "occurred_at", "service"}
    assert (entry["event_type"], entry["service"]) == ("OrderCreated", "order")
    assert client.get(f"/orders/{order['order_id']}").json() == order


def test_placing_an_order_stages_order_created_in_the_outbox(client, catalog, order_engine):
    order = place(client, ("SKU-1", 1)).json()

    with order_engine.connect() as connection:
        [row] = connection.execute(select(outbox)).all()
    assert str(row.event_id) == order["history"][0]["event_id"]
    assert (row.topic, row.key.decode()) == ("order-events", order["order_id"])


def test_an_unknown_sku_is_a_422_naming_the_item_and_stores_nothing(client, catalog, count_rows):
    response = place(client, ("SKU-1", 1), ("NOPE", 1), key="k-unknown")

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "items", 1, "sku"]
    assert "NOPE" in error["msg"]
    for table in ("orders", "order_items", "order_history", "idempotency_keys", "outbox"):
        assert count_rows(table) == 0


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"customer_id": "alice", "items": []}, ["body", "items"]),
        ({"items": [{"sku": "SKU-1", "quantity": 1}]}, ["body", "customer_id"]),
        ({"customer_id": "", "items": [{"sku": "SKU-1", "quantity": 1}]}, ["body", "customer_id"]),
        (
            {"customer_id": "a", "items": [{"sku": "SKU-1", "quantity": 0}]},
            ["body", "items", 0, "quantity"],
        ),
        (
            {"customer_id": "a", "items": [{"sku": "SKU-1", "quantity": 1.5}]},
            ["body", "items", 0, "quantity"],
        ),
        (
            {"customer_id": "a", "items": [{"sku": "SKU-1", "quantity": "2"}]},
            ["body", "items", 0, "quantity"],
        ),
        ({"customer_id": "a", "items": [{"quantity": 1}]}, ["body", "items", 0, "sku"]),
    ],
)
def test_an_invalid_body_is_a_422_naming_the_field_and_stores_nothing(
    client, catalog, count_rows, body, loc
):
    response = client.post("/orders", json=body)

    assert response.status_code == 422
    assert loc in [error["loc"] for error in response.json()["detail"]]
    assert count_rows("orders") == 0


def test_an_unknown_order_is_a_404(client):
    missing = uuid4()
    assert client.get(f"/orders/{missing}").status_code == 404
    assert client.post(f"/orders/{missing}/cancel").status_code == 404
    assert "detail" in client.get(f"/orders/{missing}").json()


def test_a_malformed_order_id_is_a_422(client):
    assert client.get("/orders/not-a-uuid").status_code == 422


def test_cancelling_answers_202_and_a_second_cancel_changes_nothing(client, catalog, order_engine):
    order_id = place(client, ("SKU-1", 1)).json()["order_id"]

    first = client.post(f"/orders/{order_id}/cancel")
    second = client.post(f"/orders/{order_id}/cancel")

    assert first.status_code == second.status_code == 202
    assert first.json()["status"] == "CANCELLED"
    assert first.json()["cancel_reason"] == "customer_cancelled"
    assert second.json() == first.json()
    assert outbox_types(order_engine) == ["OrderCreated", "OrderCancelled"]


def test_listing_filters_by_customer_and_status(client, catalog):
    a1 = place(client, ("SKU-1", 1)).json()["order_id"]
    a2 = place(client, ("SKU-1", 1)).json()["order_id"]
    place(client, ("SKU-1", 1), customer="bob")
    client.post(f"/orders/{a1}/cancel")

    alices = client.get("/orders", params={"customer_id": "alice"}).json()
    cancelled = client.get("/orders", params={"customer_id": "alice", "status": "CANCELLED"})
    one = client.get("/orders", params={"limit": 1}).json()

    assert [o["order_id"] for o in alices] == [a2, a1]
    assert [o["order_id"] for o in cancelled.json()] == [a1]
    assert len(one) == 1


def test_listing_stuck_orders_finds_the_open_ones_past_the_threshold(client, catalog, order_engine):
    old, fresh, cancelled = (place(client, ("SKU-1", 1)).json()["order_id"] for _ in range(3))
    client.post(f"/orders/{cancelled}/cancel")
    with order_engine.begin() as connection:
        connection.execute(
            update(orders)
            .where(orders.c.order_id.in_([old, cancelled]))
            .values(created_at=func.now() - text("interval '2 minutes'"))
        )

    stuck = client.get("/orders", params={"stuck": "true"}).json()

    assert [o["order_id"] for o in stuck] == [old]
    assert {o["order_id"] for o in client.get("/orders").json()} == {old, fresh, cancelled}


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 501}, {"status": "LOST"}, {"stuck": "maybe"}]
)
def test_listing_with_a_bad_query_is_a_422(client, params):
    response = client.get("/orders", params=params)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "query"


def test_the_same_idempotency_key_and_body_returns_the_same_order(client, catalog, count_rows):
    first = place(client, ("SKU-1", 1), key="k-1")
    again = place(client, ("SKU-1", 1), key="k-1")

    assert first.status_code == again.status_code == 201
    assert again.json()["order_id"] == first.json()["order_id"]
    assert count_rows("orders") == count_rows("outbox") == 1


def test_the_same_idempotency_key_with_another_body_is_a_422(client, catalog, count_rows):
    place(client, ("SKU-1", 1), key="k-1")

    response = place(client, ("SKU-1", 2), key="k-1")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert count_rows("orders") == 1


def test_the_same_idempotency_key_with_the_items_reordered_returns_the_same_order(
    client, catalog, count_rows
):
    first = place(client, ("SKU-1", 2), ("SKU-2", 1), key="k-1")
    again = place(client, ("SKU-2", 1), ("SKU-1", 2), key="k-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert count_rows("orders") == count_rows("outbox") == 1


def test_the_same_idempotency_key_with_other_items_reordered_is_a_422(client, catalog, count_rows):
    place(client, ("SKU-1", 2), ("SKU-2", 1), key="k-1")

    response = place(client, ("SKU-2", 2), ("SKU-1", 1), key="k-1")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert count_rows("orders") == count_rows("outbox") == 1


def test_a_key_claimed_with_the_as_given_fingerprint_still_replays_its_retry(
    client, catalog, count_rows, order_engine
):
    # A request in flight across the release: the previous version claimed its key.
    items = (("SKU-2", 1), ("SKU-1", 2))
    first = place(client, *items, key="k-old")
    as_given = PlaceOrder("alice", items).fingerprint_as_given()
    with order_engine.begin() as connection:
        claimed = connection.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.key == "k-old")
            .values(fingerprint=as_given)
        )
        assert claimed.rowcount == 1

    again = place(client, *items, key="k-old")
    other = place(client, ("SKU-1", 2), key="k-old")

    assert (again.status_code, again.json()["order_id"]) == (201, first.json()["order_id"])
    assert other.status_code == 422
    assert count_rows("orders") == 1


def test_concurrent_requests_with_one_idempotency_key_make_one_order(client, catalog, count_rows):
    start = threading.Barrier(8)

    def attempt(_: int) -> tuple[int, str]:
        start.wait()
        response = place(client, ("SKU-1", 1), key="k-race")
        return response.status_code, response.json()["order_id"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(8)))

    assert {status for status, _ in results} == {201}
    assert len({order_id for _, order_id in results}) == 1
    assert count_rows("orders") == count_rows("outbox") == count_rows("idempotency_keys") == 1


def test_the_catalog_knows_a_sku_only_once_product_upserted_arrived(client, order_sessions, saga):
    assert client.get("/catalog/SKU-9").status_code == 404
    with order_sessions.begin() as session:
        event = saga.product_upserted("SKU-9", 4200, name="Chair")
        HANDLERS["ProductUpserted"]([event], session)

    body = client.get("/catalog/SKU-9").json()

    assert {k: body[k] for k in ("sku", "name", "price_cents")} == {
        "sku": "SKU-9",
        "name": "Chair",
        "price_cents": 4200,
    }


def test_health_and_metrics(client, catalog):
    place(client, ("SKU-1", 1))

    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": True}
    metrics = client.get("/metrics").text
    posted = {"service": "order", "method": "POST", "route": "/orders", "status": "201"}
    assert sample_value(metrics, "saga_http_requests_total", **posted) == 1
    assert sample_value(metrics, "saga_orders_placed_total", service="order") == 1
    # Read from the database at scrape time: the order just placed is open and counted.
    assert (sample_value(metrics, "saga_orders", status="PENDING") or 0) >= 1
    assert (sample_value(metrics, "saga_oldest_open_order_age_seconds") or 0) > 0
