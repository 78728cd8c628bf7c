"""The saga under a duplicate storm: every event on the wire twice, every effect applied once.

Marked `storm`: `make storm` starts its own stack with `<SVC>_RELAY_DUPLICATE_EVERY_EVENT=true`
and runs only these; `make e2e` leaves them out. Against services without the switch they fail.
"""

import os
from collections import Counter
from collections.abc import Iterator

import pytest

from saga_e2e.client import SagaClient, unique
from saga_e2e.poison import GROUPS
from saga_e2e.poison_run import group_lag
from shared_events.runtime.metrics import sample_value

pytestmark = [pytest.mark.e2e, pytest.mark.storm, pytest.mark.timeout(120)]

SWITCHES = [f"{s}_RELAY_DUPLICATE_EVERY_EVENT" for s in ("ORDER", "PAYMENT", "INVENTORY")]

DUPLICATES = "saga_events_handled_total"


@pytest.fixture(scope="module", autouse=True)
def storm_is_on() -> None:
    if not all(os.environ.get(name, "").lower() in {"1", "true"} for name in SWITCHES):
        pytest.fail(f"duplicate storm off: run `make storm` (it sets {', '.join(SWITCHES)})")


def duplicates(saga: SagaClient) -> dict[str, float]:
    """Each service's count of consumed events its inbox recognised as already applied."""
    counts = {}
    services = {"order": saga.order, "payment": saga.payment, "inventory": saga.inventory}
    for name, client in services.items():
        value = sample_value(client.get("/metrics").text, DUPLICATES, outcome="duplicate")
        counts[name] = value or 0.0
    return counts


@pytest.fixture
def storm(saga: SagaClient) -> Iterator[SagaClient]:
    """The saga client; afterwards, every service must have seen (and skipped) duplicates."""
    before = duplicates(saga)
    yield saga
    settled(saga)
    after = duplicates(saga)
    assert all(after[s] > before[s] for s in before), f"no duplicates seen: {before} -> {after}"


def settled(saga: SagaClient) -> None:
    """Wait until every group has consumed everything (the copies trail the originals)."""
    saga.wait_for(lambda: all(group_lag(g) == 0 for g in GROUPS), "consumer lag 0", 30.0, 0.3)


def history(saga: SagaClient, order_id: str) -> Counter[str]:
    entries = saga.order_status(order_id)["history"]
    ids = [entry["event_id"] for entry in entries]
    assert len(ids) == len(set(ids)), f"an event entered the history twice: {entries}"
    return Counter(entry["event_type"] for entry in entries)


def kinds(saga: SagaClient, order_id: str) -> list[str]:
    return sorted(p["kind"] for p in saga.payments(order_id))


def test_a_confirmed_order_is_charged_and_reserved_once(storm: SagaClient) -> None:
    sku, customer = unique("sku"), unique("cust")
    storm.put_product(sku, quantity=5, price_cents=250)
    storm.open_account(customer, 10_000)
    order_id = storm.place_order(customer, [(sku, 2)]).json()["order_id"]
    assert storm.wait_terminal(order_id)["status"] == "CONFIRMED"
    settled(storm)

    assert kinds(storm, order_id) == ["charge"]
    assert storm.balance(customer) == 9_500
    assert [(r["quantity"], r["status"]) for r in storm.reservations(order_id)] == [(2, "RESERVED")]
    assert (storm.product(sku)["available"], storm.product(sku)["reserved"]) == (3, 2)
    assert history(storm, order_id) == Counter(
        ["OrderCreated", "PaymentProcessed", "ItemsReserved", "OrderConfirmed"]
    )


def test_insufficient_funds_cancels_once_and_charges_nothing(storm: SagaClient) -> None:
    sku, customer = unique("sku"), unique("cust")
    storm.put_product(sku, quantity=5, price_cents=1_000)
    storm.open_account(customer, 999)
    order_id = storm.place_order(customer, [(sku, 1)]).json()["order_id"]
    order = storm.wait_terminal(order_id)
    settled(storm)

    assert (order["status"], order["cancel_reason"]) == ("CANCELLED", "payment_failed")
    assert kinds(storm, order_id) == [] and storm.balance(customer) == 999
    assert storm.reservations(order_id) == [] and storm.product(sku)["available"] == 5
    assert history(storm, order_id) == Counter(["OrderCreated", "PaymentFailed", "OrderCancelled"])


def test_out_of_stock_refunds_once_and_holds_nothing(storm: SagaClient) -> None:
    plenty, scarce, customer = unique("sku"), unique("sku"), unique("cust")
    storm.put_product(plenty, quantity=100, price_cents=100)
    storm.put_product(scarce, quantity=1, price_cents=100)
    storm.open_account(customer, 10_000)
    order_id = storm.place_order(customer, [(plenty, 3), (scarce, 2)]).json()["order_id"]
    order = storm.wait_terminal(order_id)
    storm.wait_for(lambda: kinds(storm, order_id) == ["charge", "refund"], "the refund")
    settled(storm)

    assert (order["status"], order["cancel_reason"]) == ("CANCELLED", "out_of_stock")
    assert kinds(storm, order_id) == ["charge", "refund"] and storm.balance(customer) == 10_000
    assert storm.product(plenty)["available"] == 100 and storm.product(scarce)["available"] == 1
    assert all(r["status"] == "RELEASED" for r in storm.reservations(order_id))
    seen = history(storm, order_id)
    assert max(seen.values()) == 1, seen
    assert {"OrderCreated", "PaymentProcessed", "InventoryFailed", "OrderCancelled"} <= set(seen)


def test_cancel_after_confirm_refunds_and_releases_once(storm: SagaClient) -> None:
    sku, customer = unique("sku"), unique("cust")
    storm.put_product(sku, quantity=4, price_cents=500)
    storm.open_account(customer, 5_000)
    order_id = storm.place_order(customer, [(sku, 3)]).json()["order_id"]
    assert storm.wait_terminal(order_id)["status"] == "CONFIRMED"

    assert storm.order.post(f"/orders/{order_id}/cancel").status_code == 202
    storm.wait_for(lambda: kinds(storm, order_id) == ["charge", "refund"], "the refund")
    storm.wait_for(lambda: storm.product(sku)["available"] == 4, "the release")
    settled(storm)

    assert kinds(storm, order_id) == ["charge", "refund"] and storm.balance(customer) == 5_000
    assert [(r["quantity"], r["status"]) for r in storm.reservations(order_id)] == [(3, "RELEASED")]
    assert (storm.product(sku)["available"], storm.product(sku)["reserved"]) == (4, 0)
    assert history(storm, order_id) == Counter(
        [
            "OrderCreated",
            "PaymentProcessed",
            "ItemsReserved",
            "OrderConfirmed",
            "OrderCancelled",
            "PaymentRefunded",
            "ItemsReleased",
        ]
    )
