"""How many statements the hot paths send to Postgres: fixed, whatever the size of the work.

Counted as the engine's cursor executes (an executemany counts once per parameter set);
BEGIN, COMMIT and the pool's pre-ping come on top and are not counted.
"""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, event

from order_service import handlers
from order_service.consumer import HANDLERS
from order_service.handlers import PlaceOrder
from order_service.tables import processed_events
from shared_events.kafka.consuming.inbox import apply_batch, apply_once

pytestmark = pytest.mark.integration

CONSUMER = "order-service"
SKUS = [f"SKU-{n}" for n in range(5)]


@pytest.fixture
def statements(order_engine: Engine) -> Iterator[list[str]]:
    executed: list[str] = []

    def count(connection, cursor, statement, parameters, context, executemany) -> None:
        executed.extend([statement] * (len(parameters) if executemany else 1))

    event.listen(order_engine, "before_cursor_execute", count)
    yield executed
    event.remove(order_engine, "before_cursor_execute", count)


@pytest.fixture
def catalog(order_sessions, saga):
    for sku in SKUS:
        apply_once(
            order_sessions, processed_events, CONSUMER, saga.product_upserted(sku, 100), HANDLERS
        )


def place(client, lines, key=None):
    body = {"customer_id": "alice", "items": [{"sku": s, "quantity": 1} for s in SKUS[:lines]]}
    response = client.post("/orders", json=body, headers={"Idempotency-Key": key} if key else {})
    assert response.status_code == 201
    return response.json()["order_id"]


@pytest.mark.parametrize("lines", [1, 5])
def test_placing_an_order_takes_three_statements_however_many_lines(
    client, catalog, statements, lines
):
    statements.clear()

    place(client, lines)

    # The catalog read; order, items and history in one INSERT; the outbox INSERT + NOTIFY.
    assert len(statements) == 3, statements


def test_an_idempotency_key_adds_one_statement_to_claim_it(client, catalog, statements):
    statements.clear()

    place(client, 5, key="k-count")

    assert len(statements) == 4, statements


@pytest.mark.parametrize(
    ("size", "kind", "expected"),
    [
        # The inbox; orders (locked), their items, their history; one UPDATE, one history INSERT.
        (1, "payment_processed", 6),
        (40, "payment_processed", 6),
        # ... and one outbox INSERT for all the OrderConfirmed.
        (1, "items_reserved", 7),
        (40, "items_reserved", 7),
    ],
)
def test_a_batch_of_events_takes_the_same_statements_whatever_its_size(
    order_sessions, catalog, sql_uow, saga, statements, size, kind, expected
):
    orders = [
        handlers.place_order(PlaceOrder("alice", ((SKUS[0], 1),)), sql_uow()) for _ in range(size)
    ]
    batch = [getattr(saga, kind)(order.order_id) for order in orders]
    statements.clear()

    applied = apply_batch(order_sessions, processed_events, CONSUMER, batch, HANDLERS)

    assert applied == batch
    assert len(statements) == expected, statements
