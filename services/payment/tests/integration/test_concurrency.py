"""Concurrent consumers and HTTP deposits against one balance never break the invariants."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest

from payment_service.domain import EntryKind
from payment_service.handlers import Deposit, deposit
from payment_service.unit_of_work import SqlUnitOfWork

if TYPE_CHECKING:
    from conftest import PaymentDriver

pytestmark = pytest.mark.integration


def _race(threads: int, work: object) -> None:
    start = Barrier(threads)

    def run(index: int) -> None:
        start.wait()
        work(index)  # type: ignore[operator]

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, range(threads)))


def test_twenty_concurrent_charges_against_a_balance_for_ten_never_overdraw(
    driver: PaymentDriver,
) -> None:
    customer = driver.open_account(10 * 100)
    order_ids = [uuid4() for _ in range(20)]

    _race(20, lambda i: driver.deliver(driver.created(order_ids[i], customer, 100)))

    assert driver.balance(customer) == 0
    assert sum(len(driver.payments(o)) for o in order_ids) == 10
    outcomes = [driver.published(o)[0].event_type for o in order_ids]
    assert sorted(outcomes) == ["PaymentFailed"] * 10 + ["PaymentProcessed"] * 10


def test_concurrent_duplicates_of_one_order_charge_once(driver: PaymentDriver) -> None:
    customer, order_id = driver.open_account(1000), uuid4()

    # Fresh event ids each time: the inbox cannot dedup them, the order lock must.
    _race(10, lambda _: driver.deliver(driver.created(order_id, customer, 100)))

    assert driver.balance(customer) == 900
    assert len(driver.published(order_id)) == 1


def test_deposits_charges_and_refunds_racing_keep_the_ledger_balanced(
    driver: PaymentDriver,
) -> None:
    customer = driver.open_account(500)
    order_ids = [uuid4() for _ in range(15)]

    def work(index: int) -> None:
        if index < 15:
            driver.deliver(driver.created(order_ids[index], customer, 100))
            if index % 2 == 0:
                driver.deliver(driver.cancelled(order_ids[index]))
        else:
            deposit(Deposit(customer, 50), SqlUnitOfWork(driver.factory))

    _race(30, work)

    assert driver.summary().balanced
    kinds = [p.kind for o in order_ids for p in driver.payments(o)]
    charges, refunds = kinds.count(EntryKind.CHARGE), kinds.count(EntryKind.REFUND)
    assert refunds == len([o for i, o in enumerate(order_ids) if i % 2 == 0 and driver.payments(o)])
    assert driver.balance(customer) == 500 + 15 * 50 - 100 * charges + 100 * refunds >= 0
