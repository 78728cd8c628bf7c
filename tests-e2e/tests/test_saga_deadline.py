"""The saga deadline on a stack of its own (`DEADLINE_*` variables, ORDER_SAGA_DEADLINE_S=8).

A service kept down past the deadline: the order shows in `GET /orders?stuck=true` while it
waits, is then cancelled as `timed_out` and refunded, and once the service is back the late
events it reads (OrderCreated, PaymentProcessed, OrderCancelled, in whatever order its two
topics deliver them) leave nothing reserved and no money held.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from saga_e2e import own_stack
from saga_e2e.browser import chromium
from saga_e2e.chaos import drain
from saga_e2e.client import TERMINAL, SagaClient, unique
from saga_e2e.own_stack import StackSpec, System
from saga_infra import services
from saga_infra.services import SERVICES
from shared_events.runtime.metrics import sample_value

pytestmark = [pytest.mark.e2e, pytest.mark.deadline, pytest.mark.timeout(600)]

DEADLINE_S = 8
STUCK_AFTER_S = 2
# Never the defaults or another harness's stack: these tests stop services of their own.
DEADLINE = StackSpec(
    "deadline",
    "DEADLINE",
    {
        "STACK_DIR": "/tmp/deadlinestack",
        "KAFKA_PORT": "26092",
        "KAFKA_CONTROLLER_PORT": "26093",
        "PG_PORT": "26532",
        "ORDER_HTTP_PORT": "26001",
        "PAYMENT_HTTP_PORT": "26002",
        "INVENTORY_HTTP_PORT": "26003",
        "JAEGER": "0",
        "PROMETHEUS": "0",
        "ORDER_SAGA_DEADLINE_S": str(DEADLINE_S),
        "ORDER_SAGA_DEADLINE_CHECK_S": "0.5",
        "ORDER_SAGA_STUCK_AFTER_S": str(STUCK_AFTER_S),
    },
    foreign=(*own_stack.FOREIGN, "ORDER_REPLICAS", "PAYMENT_REPLICAS", "INVENTORY_REPLICAS"),
)
BY_NAME = {service.name: service for service in SERVICES}


@pytest.fixture(scope="session")
def system_is_up() -> None:
    """Overrides the e2e check of the main system: this module brings up its own stack."""


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    with own_stack.running(DEADLINE, print) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


class Outage:
    """Services a test stopped; `end()` starts them again and waits until they are ready."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.stopped: list[str] = []

    def stop(self, name: str) -> None:
        services.stop(self.system.settings, BY_NAME[name])
        self.stopped.append(name)

    def end(self) -> None:
        while self.stopped:
            service = BY_NAME[self.stopped.pop()]
            services.start(self.system.settings, service)
            services.wait_ready(self.system.settings, service, 120)


@pytest.fixture
def outage(system: System) -> Iterator[Outage]:
    """An outage for the test, ended however the test ends."""
    outage = Outage(system)
    try:
        yield outage
    finally:
        outage.end()


def settle(system: System, order_ids: list[str]) -> None:
    """Wait until every outbox is sent and every consumer group has caught up."""
    lag = drain.LagProbe(system.settings.kafka_bootstrap)
    try:
        backlog, _ = drain.wait_until(
            drain.settled, system.settings.dsn(), lag, order_ids, 120, print
        )
    finally:
        lag.close()
    assert backlog.settled, backlog


def stuck_ids(saga: SagaClient, customer: str) -> set[str]:
    response = saga.order.get("/orders", params={"stuck": "true", "customer_id": customer})
    response.raise_for_status()
    return {order["order_id"] for order in response.json()}


def kinds(saga: SagaClient, order_id: str) -> list[str]:
    return sorted(row["kind"] for row in saga.payments(order_id))


def timed_out_total(saga: SagaClient) -> float:
    metrics = saga.order.get("/metrics").text
    return sample_value(metrics, "saga_timed_out_total", service="order") or 0.0


@pytest.mark.parametrize("stopped", ["inventory", "payment"])
def test_an_order_past_the_deadline_is_cancelled_as_timed_out_and_holds_nothing(
    system: System, saga: SagaClient, outage: Outage, stopped: str, browser: WebDriver
) -> None:
    sku, customer = unique("sku"), unique("cust")
    saga.put_product(sku, quantity=3, price_cents=250)
    saga.open_account(customer, 1_000)
    timed_out_before = timed_out_total(saga)

    outage.stop(stopped)
    order_id = saga.place_order(customer, [(sku, 2)]).json()["order_id"]

    # Stuck after ORDER_SAGA_STUCK_AFTER_S, while the saga waits for the stopped service.
    saga.wait_for(lambda: order_id in stuck_ids(saga, customer), "order listed as stuck", 10)
    assert saga.order_status(order_id)["status"] not in TERMINAL

    order = saga.wait_terminal(order_id, DEADLINE_S + 20)
    assert (order["status"], order["cancel_reason"]) == ("CANCELLED", "timed_out")
    assert "OrderCancelled" in [h["event_type"] for h in order["history"]]
    assert order_id not in stuck_ids(saga, customer)
    assert timed_out_total(saga) == timed_out_before + 1
    if stopped == "inventory":
        # Payment is up: it charged, and refunds on the OrderCancelled.
        saga.wait_for(lambda: kinds(saga, order_id) == ["charge", "refund"], "refunded")
        assert saga.balance(customer) == 1_000
        timed_out_page(browser, saga, order_id)

    outage.end()
    settle(system, [order_id])

    # The late events left nothing behind: no reservation held, stock and money whole.
    assert [r["status"] for r in saga.reservations(order_id) if r["status"] == "RESERVED"] == []
    product = saga.product(sku)
    assert (product["available"], product["reserved"]) == (3, 0)
    assert kinds(saga, order_id) in ([], ["charge", "refund"])
    assert saga.balance(customer) == 1_000
    final = saga.order_status(order_id)
    assert (final["status"], final["cancel_reason"]) == ("CANCELLED", "timed_out")


def timed_out_page(browser: WebDriver, saga: SagaClient, order_id: str) -> None:
    """The order's page in a real browser while inventory is still down: timed out, refunded,
    and the reservation "unavailable" (the inventory service does not answer)."""
    browser.get(f"{saga.urls.order}/ui/orders/{order_id}")
    assert browser.find_element(By.ID, "status").text == "CANCELLED"
    assert browser.find_element(By.ID, "cancel-reason").text == "timed_out"
    payments = browser.find_elements(By.CSS_SELECTOR, "#payments tr.payment")
    assert sorted(row.find_element(By.TAG_NAME, "td").text for row in payments) == [
        "charge",
        "refund",
    ]
    assert "unavailable" in browser.find_element(By.ID, "reservations").text
    timeline = [
        row.find_elements(By.TAG_NAME, "td")[1].text
        for row in browser.find_elements(By.CSS_SELECTOR, "#timeline tr.event")
    ]
    assert timeline[0] == "OrderCreated" and "OrderCancelled" in timeline
    shots = os.environ.get("UI_SCREENSHOTS_DIR")
    if shots:  # `make screenshots` keeps the picture for the README
        browser.save_screenshot(str(Path(shots) / "ui-timed-out.png"))
