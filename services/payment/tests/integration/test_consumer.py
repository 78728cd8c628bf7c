"""The consumer functions against real Postgres, run as the EventConsumer runs them."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import uuid4

import pytest

from payment_service.consumer import HANDLERS
from payment_service.unit_of_work import SqlUnitOfWork
from shared_events import (
    OrderConfirmed,
    PaymentFailed,
    PaymentFailureReason,
    PaymentProcessed,
    PaymentRefunded,
)

if TYPE_CHECKING:
    from conftest import PaymentDriver

pytestmark = pytest.mark.integration


def test_order_created_charges_and_publishes_payment_processed(driver: PaymentDriver) -> None:
    customer, order_id = driver.open_account(1000), uuid4()
    event = driver.created(order_id, customer, 300)

    assert driver.deliver(event)

    assert driver.balance(customer) == 700
    [charge] = driver.payments(order_id)
    [out] = driver.published(order_id)
    assert out.payload == PaymentProcessed(
        order_id=order_id, payment_id=charge.entry_id, amount_cents=300
    )
    assert (out.causation_id, out.correlation_id) == (event.event_id, str(order_id))
    assert out.producer.service == "payment"


def test_a_redelivered_event_is_skipped(driver: PaymentDriver) -> None:
    customer, order_id = driver.open_account(1000), uuid4()
    event = driver.created(order_id, customer, 300)

    assert driver.deliver(event)
    assert not driver.deliver(event)

    assert driver.balance(customer) == 700
    assert len(driver.published(order_id)) == 1


def test_a_second_order_created_for_the_same_order_charges_nothing_more(
    driver: PaymentDriver,
) -> None:
    customer, order_id = driver.open_account(1000), uuid4()

    driver.deliver(driver.created(order_id, customer, 300))
    driver.deliver(driver.created(order_id, customer, 300))

    assert driver.balance(customer) == 700
    assert len(driver.published(order_id)) == 1


@pytest.mark.parametrize(
    ("opening", "reason"),
    [(None, PaymentFailureReason.UNKNOWN_CUSTOMER), (299, PaymentFailureReason.INSUFFICIENT_FUNDS)],
)
def test_an_uncoverable_order_publishes_payment_failed(
    driver: PaymentDriver, opening: int | None, reason: PaymentFailureReason
) -> None:
    customer = driver.open_account(opening) if opening is not None else f"ghost-{uuid4()}"
    order_id = uuid4()

    driver.deliver(driver.created(order_id, customer, 300))

    assert [e.payload for e in driver.published(order_id)] == [
        PaymentFailed(order_id=order_id, reason=reason)
    ]
    assert driver.payments(order_id) == []


def test_order_cancelled_refunds_the_charge_once(driver: PaymentDriver) -> None:
    customer, order_id = driver.open_account(1000), uuid4()
    driver.deliver(driver.created(order_id, customer, 300))

    cancel = driver.cancelled(order_id)
    driver.deliver(cancel)
    driver.deliver(driver.cancelled(order_id))

    assert driver.balance(customer) == 1000
    _processed, refunded = driver.published(order_id)
    _charge, refund = driver.payments(order_id)
    assert refunded.payload == PaymentRefunded(
        order_id=order_id, payment_id=refund.entry_id, amount_cents=300
    )
    assert refunded.causation_id == cancel.event_id


def test_order_cancelled_before_order_created_prevents_the_charge(driver: PaymentDriver) -> None:
    customer, order_id = driver.open_account(1000), uuid4()

    driver.deliver(driver.cancelled(order_id))
    driver.deliver(driver.created(order_id, customer, 300))

    assert driver.balance(customer) == 1000
    assert driver.published(order_id) == []


def test_order_cancelled_after_a_failed_payment_refunds_nothing(driver: PaymentDriver) -> None:
    customer, order_id = driver.open_account(10), uuid4()
    driver.deliver(driver.created(order_id, customer, 300))

    driver.deliver(driver.cancelled(order_id))

    assert [e.event_type for e in driver.published(order_id)] == ["PaymentFailed"]
    assert driver.balance(customer) == 10


def test_order_confirmed_is_not_handled() -> None:
    assert OrderConfirmed.event_type not in HANDLERS


def test_a_failing_handler_leaves_no_trace(
    driver: PaymentDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer, order_id = driver.open_account(1000), uuid4()
    event = driver.created(order_id, customer, 300)

    def explode(self: SqlUnitOfWork) -> None:
        raise RuntimeError("crash after the charge, before the commit")

    monkeypatch.setattr(SqlUnitOfWork, "commit", explode)
    with pytest.raises(RuntimeError):
        driver.deliver(event)
    monkeypatch.undo()

    assert driver.balance(customer) == 1000
    assert driver.published(order_id) == []
    assert driver.deliver(event)  # not recorded as processed: it runs again
    assert driver.balance(customer) == 700
