"""Batches of consumed events applied in one transaction, as the EventConsumer applies them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import pytest
from sqlalchemy import Engine, event

from payment_service.domain import EntryKind, InsufficientFunds
from payment_service.unit_of_work import SqlUnitOfWork
from shared_events import PaymentFailed, PaymentFailureReason, PaymentProcessed

if TYPE_CHECKING:
    from conftest import PaymentDriver

pytestmark = pytest.mark.integration


def test_a_batch_of_order_created_is_decided_order_by_order_with_one_event_each(
    driver: PaymentDriver,
) -> None:
    alice, bob, ghost = driver.open_account(500), driver.open_account(100), f"ghost-{uuid4()}"
    first, second, unknown, poor, too_late = (uuid4() for _ in range(5))
    batch = [
        driver.created(first, alice, 200),
        driver.created(second, alice, 250),
        driver.created(unknown, ghost, 50),
        driver.created(poor, bob, 300),
        driver.created(too_late, alice, 100),  # 50 left after the two before it
    ]
    before = driver.summary()

    assert driver.deliver_batch(batch) == batch

    assert (driver.balance(alice), driver.balance(bob)) == (50, 100)
    [charge_1], [charge_2] = driver.payments(first), driver.payments(second)
    assert [(c.kind, c.customer_id, c.amount_cents) for c in (charge_1, charge_2)] == [
        (EntryKind.CHARGE, alice, 200),
        (EntryKind.CHARGE, alice, 250),
    ]
    assert driver.payments(unknown) == driver.payments(poor) == driver.payments(too_late) == []
    published = [e for o in (first, second, unknown, poor, too_late) for e in driver.published(o)]
    assert [e.payload for e in published] == [
        PaymentProcessed(order_id=first, payment_id=charge_1.entry_id, amount_cents=200),
        PaymentProcessed(order_id=second, payment_id=charge_2.entry_id, amount_cents=250),
        PaymentFailed(order_id=unknown, reason=PaymentFailureReason.UNKNOWN_CUSTOMER),
        PaymentFailed(order_id=poor, reason=PaymentFailureReason.INSUFFICIENT_FUNDS),
        PaymentFailed(order_id=too_late, reason=PaymentFailureReason.INSUFFICIENT_FUNDS),
    ]
    assert [e.causation_id for e in published] == [e.event_id for e in batch]
    after = driver.summary()
    assert after.balanced
    assert after.charges_cents - before.charges_cents == 450


def test_a_redelivered_batch_changes_nothing(driver: PaymentDriver) -> None:
    alice, bob = driver.open_account(500), driver.open_account(100)
    order_ids = [uuid4() for _ in range(4)]
    batch = [
        driver.created(order_ids[0], alice, 200),
        driver.created(order_ids[1], alice, 250),
        driver.created(order_ids[2], f"ghost-{uuid4()}", 50),
        driver.created(order_ids[3], bob, 300),
    ]
    driver.deliver_batch(batch)

    def state() -> object:
        return (
            driver.balance(alice),
            driver.balance(bob),
            [driver.payments(o) for o in order_ids],
            [driver.published(o) for o in order_ids],
        )

    seen = state()

    assert driver.deliver_batch(batch) == []
    assert state() == seen


def test_an_orders_creation_and_cancellation_in_one_batch_charge_then_refund(
    driver: PaymentDriver,
) -> None:
    alice, cancelled, kept = driver.open_account(1000), uuid4(), uuid4()
    cancellation = driver.cancelled(cancelled)
    batch = [
        driver.created(cancelled, alice, 300),
        driver.created(kept, alice, 100),
        cancellation,
    ]

    assert driver.deliver_batch(batch) == batch

    assert driver.balance(alice) == 900
    assert [p.kind for p in driver.payments(cancelled)] == [EntryKind.CHARGE, EntryKind.REFUND]
    processed, refunded = driver.published(cancelled)
    assert (processed.event_type, refunded.event_type) == ("PaymentProcessed", "PaymentRefunded")
    assert refunded.causation_id == cancellation.event_id
    assert [e.event_type for e in driver.published(kept)] == ["PaymentProcessed"]


@pytest.fixture
def statements(payment_engine: Engine) -> Iterator[list[str]]:
    executed: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        executed.append(statement)

    event.listen(payment_engine, "before_cursor_execute", record)
    yield executed
    event.remove(payment_engine, "before_cursor_execute", record)


def test_a_batch_costs_the_same_statements_whatever_its_size(
    driver: PaymentDriver, statements: list[str]
) -> None:
    def cost(orders: int) -> int:
        customers = [driver.open_account(1000) for _ in range(3)]
        batch = [driver.created(uuid4(), customers[i % 3], 700) for i in range(orders)]
        statements.clear()
        driver.deliver_batch(batch)
        return len(statements)

    small, large = cost(3), cost(30)  # both charge 3 orders, the large one fails 27 more

    # Inbox; orders: create, lock; accounts: lock; ledger: insert; balances: move; outbox.
    assert small == 7
    assert large == small + 1  # the failures: the one UPDATE of orders


def test_the_balance_guard_refuses_an_overdraft_the_domain_missed(driver: PaymentDriver) -> None:
    alice, order_id = driver.open_account(100), uuid4()

    with pytest.raises(InsufficientFunds, match=alice), SqlUnitOfWork(driver.factory) as uow:
        account = uow.accounts.lock(alice)
        assert account is not None
        account.balance_cents = 1000  # a bug that believes in money that is not there
        uow.orders.lock(order_id).pay(account, 500)
        uow.commit()

    assert driver.balance(alice) == 100
    assert driver.payments(order_id) == []
