"""The operator pages of the order service (/ui), loaded in a real headless Chromium.

Against the running system: what a page shows for a confirmed order, a customer-cancelled
one, one cancelled for want of stock and refunded, and the dead letters after a poison
record. (The page of a timed-out order is in test_saga_deadline.py, whose stack has a short
deadline.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from saga_e2e.browser import chromium
from saga_e2e.client import SagaClient, unique
from saga_e2e.poison import Poison, inject
from shared_events.topics import ORDER_EVENTS

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def open_order(browser: WebDriver, saga: SagaClient, order_id: str) -> dict[str, Any]:
    """Load the order's page; the texts of its parts, row by row."""
    browser.get(f"{saga.urls.order}/ui/orders/{order_id}")
    page: dict[str, Any] = {
        "title": browser.find_element(By.TAG_NAME, "h1").text,
        "status": browser.find_element(By.ID, "status").text,
        "reason": browser.find_element(By.ID, "cancel-reason").text,
        "trace": browser.find_element(By.ID, "trace-link").get_attribute("href"),
    }
    for part, row in (
        ("timeline", "event"),
        ("payments", "payment"),
        ("reservations", "reservation"),
    ):
        page[part] = [
            [cell.text for cell in tr.find_elements(By.TAG_NAME, "td")]
            for tr in browser.find_elements(By.CSS_SELECTOR, f"#{part} tr.{row}")
        ]
    return page


def events(page: dict[str, Any]) -> list[tuple[str, str]]:
    """(event type, producing service) of each timeline row, in order."""
    return [(row[1], row[2]) for row in page["timeline"]]


def history(saga: SagaClient, order_id: str) -> list[str]:
    return [entry["event_type"] for entry in saga.order_status(order_id)["history"]]


def funded_order(saga: SagaClient, stock: int) -> tuple[str, str]:
    sku, customer = unique("sku"), unique("cust")
    saga.put_product(sku, quantity=stock, price_cents=250)
    saga.open_account(customer, 10_000)
    return sku, saga.place_order(customer, [(sku, 2)]).json()["order_id"]


def test_a_confirmed_order_shows_its_timeline_charge_reservation_and_trace(
    browser: WebDriver, saga: SagaClient
) -> None:
    sku, order_id = funded_order(saga, stock=5)
    assert saga.wait_terminal(order_id)["status"] == "CONFIRMED"

    page = open_order(browser, saga, order_id)

    assert order_id in str(page["title"])
    assert (page["status"], page["reason"]) == ("CONFIRMED", "—")
    assert events(page)[0] == ("OrderCreated", "order")
    assert set(events(page)) == {
        ("OrderCreated", "order"),
        ("PaymentProcessed", "payment"),
        ("ItemsReserved", "inventory"),
        ("OrderConfirmed", "order"),
    }
    assert events(page)[-1] == ("OrderConfirmed", "order")
    offsets = [float(str(row[0]).strip("+ s")) for row in page["timeline"]]
    assert offsets == sorted(offsets) and offsets[0] == 0
    assert [(r[0], r[1]) for r in page["payments"]] == [("charge", "5.00")]
    assert [(r[0], r[1], r[2]) for r in page["reservations"]] == [(sku, "2", "RESERVED")]
    assert "saga.correlation_id" in str(page["trace"]) and order_id in str(page["trace"])


def test_a_customer_cancelled_order_shows_the_refund_and_the_release(
    browser: WebDriver, saga: SagaClient
) -> None:
    sku, order_id = funded_order(saga, stock=5)
    assert saga.wait_terminal(order_id)["status"] == "CONFIRMED"
    assert saga.order.post(f"/orders/{order_id}/cancel").status_code == 202
    saga.wait_for(lambda: len(saga.payments(order_id)) == 2, "refund")
    saga.wait_for(
        lambda: saga.reservations(order_id)[0]["status"] == "RELEASED", "reservation released"
    )

    page = open_order(browser, saga, order_id)

    assert (page["status"], page["reason"]) == ("CANCELLED", "customer_cancelled")
    assert ("OrderCancelled", "order") in events(page)
    assert sorted(r[0] for r in page["payments"]) == ["charge", "refund"]
    assert [r[2] for r in page["reservations"]] == ["RELEASED"]


def test_an_out_of_stock_order_shows_its_refund_and_nothing_reserved(
    browser: WebDriver, saga: SagaClient
) -> None:
    _sku, order_id = funded_order(saga, stock=0)
    assert saga.wait_terminal(order_id)["status"] == "CANCELLED"
    saga.wait_for(lambda: len(saga.payments(order_id)) == 2, "refund")
    # ... and the order service has heard of it (it records PaymentRefunded in the history).
    saga.wait_for(lambda: "PaymentRefunded" in history(saga, order_id), "refund in the history")

    page = open_order(browser, saga, order_id)

    assert (page["status"], page["reason"]) == ("CANCELLED", "out_of_stock")
    assert ("InventoryFailed", "inventory") in events(page)
    assert ("PaymentRefunded", "payment") in events(page)
    assert sorted((r[0], r[1]) for r in page["payments"]) == [
        ("charge", "5.00"),
        ("refund", "5.00"),
    ]
    assert page["reservations"] == []
    assert "nothing reserved" in browser.find_element(By.ID, "reservations").text


def test_the_orders_list_filters_by_customer_and_status(
    browser: WebDriver, saga: SagaClient
) -> None:
    sku, customer = unique("sku"), unique("cust")
    saga.put_product(sku, quantity=1, price_cents=100)
    saga.open_account(customer, 1_000)
    first = saga.place_order(customer, [(sku, 1)]).json()["order_id"]
    assert saga.wait_terminal(first)["status"] == "CONFIRMED"
    second = saga.place_order(customer, [(sku, 1)]).json()["order_id"]  # no stock left
    assert saga.wait_terminal(second)["status"] == "CANCELLED"

    browser.get(f"{saga.urls.order}/ui/?customer_id={customer}")
    listed = [
        tr.get_attribute("data-order-id")
        for tr in browser.find_elements(By.CSS_SELECTOR, "tr.order")
    ]
    assert sorted(listed) == sorted([first, second])
    browser.get(f"{saga.urls.order}/ui/?customer_id={customer}&status=CANCELLED")
    listed = [
        tr.get_attribute("data-order-id")
        for tr in browser.find_elements(By.CSS_SELECTOR, "tr.order")
    ]
    assert listed == [second]


def test_the_dead_letter_page_lists_a_poison_record_with_its_replay_command(
    browser: WebDriver, saga: SagaClient
) -> None:
    # A real order, and a record that claims to belong to it but no reader can decode.
    _sku, order_id = funded_order(saga, stock=5)
    assert saga.wait_terminal(order_id)["status"] == "CONFIRMED"
    value = b'{"event_type": "OrderConfirmed", "payload": {'  # not JSON
    poison = Poison(0, ORDER_EVENTS, "not_json", order_id.encode(), value)
    inject(unique("ui"), [poison], extra_headers=[("correlation_id", order_id.encode())])

    def listed() -> list[str]:
        browser.get(f"{saga.urls.order}/ui/dead-letters")
        table = browser.find_elements(By.CSS_SELECTOR, 'table[data-group="payment-service"] tr')
        return [tr.text for tr in table if order_id in tr.text]

    saga.wait_for(lambda: bool(listed()), "the poison record on the dead-letter page", 30, 1)
    [row] = listed()
    assert "not_json" in row, row
    assert "order-events[" in row
    assert "python -m shared_events.kafka.dead_letters replay --group payment-service" in row

    # The order's own page lists the letters carrying its correlation id, one per reader.
    browser.get(f"{saga.urls.order}/ui/orders/{order_id}")
    letters = browser.find_elements(By.CSS_SELECTOR, "#dead-letters tr.dead-letter")
    groups = sorted(row.find_element(By.TAG_NAME, "td").text for row in letters)
    assert groups == ["inventory-service", "payment-service"], [r.text for r in letters]
    assert browser.find_element(By.ID, "status").text == "CONFIRMED"
