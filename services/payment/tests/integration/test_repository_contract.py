"""One contract for both unit-of-work implementations: the in-memory fake and the SQL one."""

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select

from payment_service.domain import (
    Account,
    AccountAlreadyExists,
    EntryKind,
    OrderPayment,
)
from payment_service.handlers import UnitOfWork
from payment_service.tables import outbox
from payment_service.unit_of_work import SqlUnitOfWork
from shared_events import Event, PaymentFailureReason, PaymentProcessed
from shared_events.kafka import decode


@dataclass
class Harness:
    uow: Callable[[], UnitOfWork]
    published: Callable[[UUID], list[Event]]


def _memory(request: pytest.FixtureRequest) -> Harness:
    store = request.getfixturevalue("uow")
    return Harness(
        uow=lambda: store,
        published=lambda order_id: [
            e.payload for e in store.outbox if e.correlation_id == str(order_id)
        ],
    )


def _sql(request: pytest.FixtureRequest) -> Harness:
    factory = request.getfixturevalue("session_factory")

    def published(order_id: UUID) -> list[Event]:
        with factory() as session:
            rows = session.execute(
                select(outbox.c.value).where(outbox.c.key == str(order_id).encode())
                .order_by(outbox.c.id)
            )  # fmt: skip
            return [decode(row.value).payload for row in rows]

    return Harness(uow=lambda: SqlUnitOfWork(factory), published=published)


@pytest.fixture(params=["memory", pytest.param("sql", marks=pytest.mark.integration)])
def harness(request: pytest.FixtureRequest) -> Harness:
    return _memory(request) if request.param == "memory" else _sql(request)


def _customer() -> str:
    return f"customer-{uuid4()}"


def test_a_committed_account_can_be_read_back(harness: Harness) -> None:
    customer = _customer()
    with harness.uow() as uow:
        uow.accounts.add(Account.open(customer, 250))
        uow.commit()

    with harness.uow() as uow:
        account = uow.accounts.get(customer)
    assert account is not None and account.balance_cents == 250


def test_nothing_persists_without_commit(harness: Harness) -> None:
    customer, order_id = _customer(), uuid4()
    with harness.uow() as uow:
        uow.accounts.add(Account.open(customer, 250))
        uow.orders.lock(order_id).cancel(None)

    with harness.uow() as uow:
        assert uow.accounts.get(customer) is None
        assert uow.orders.lock(order_id).cancelled is False


def test_adding_an_existing_account_raises(harness: Harness) -> None:
    customer = _customer()
    with harness.uow() as uow:
        uow.accounts.add(Account.open(customer, 1))
        uow.commit()

    with harness.uow() as uow, pytest.raises(AccountAlreadyExists):
        uow.accounts.add(Account.open(customer, 2))


def test_unknown_accounts_are_none(harness: Harness) -> None:
    with harness.uow() as uow:
        assert uow.accounts.get(_customer()) is None
        assert uow.accounts.lock(_customer()) is None


def test_ledger_entries_move_the_balance_and_the_summary(harness: Harness) -> None:
    customer = _customer()
    with harness.uow() as uow:
        before = uow.accounts.summary()
        uow.accounts.add(Account.open(customer, 100))
        uow.commit()
    with harness.uow() as uow:
        account = uow.accounts.lock(customer)
        assert account is not None
        account.deposit(40)
        uow.commit()

    with harness.uow() as uow:
        after = uow.accounts.summary()
        locked = uow.accounts.lock(customer)
    assert locked is not None and locked.balance_cents == 140
    assert after.accounts - before.accounts == 1
    assert after.balances_cents - before.balances_cents == 140
    assert after.opening_cents - before.opening_cents == 100
    assert after.deposits_cents - before.deposits_cents == 40


def test_an_unseen_order_is_empty(harness: Harness) -> None:
    with harness.uow() as uow:
        order = uow.orders.lock(uuid4())
    assert (order.cancelled, order.failure_reason, order.charge, order.refund) == (
        False,
        None,
        None,
        None,
    )


def test_an_order_payment_round_trips_with_its_charge_refund_and_events(harness: Harness) -> None:
    customer, order_id = _customer(), uuid4()
    with harness.uow() as uow:
        uow.accounts.add(Account.open(customer, 1000))
        uow.commit()
    with harness.uow() as uow:
        order = uow.orders.lock(order_id)
        order.pay(uow.accounts.lock(customer), 300)
        uow.commit()
    with harness.uow() as uow:
        order = uow.orders.lock(order_id)
        assert order.charge is not None
        charge_id = order.charge.entry_id
        order.cancel(uow.accounts.lock(customer))
        uow.commit()

    with harness.uow() as uow:
        order = uow.orders.lock(order_id)
        payments = uow.orders.payments(order_id)
        account = uow.accounts.get(customer)
    assert order.cancelled and order.charge is not None and order.refund is not None
    assert order.charge.entry_id == charge_id
    assert [(p.kind, p.amount_cents) for p in payments] == [
        (EntryKind.CHARGE, 300),
        (EntryKind.REFUND, 300),
    ]
    assert account is not None and account.balance_cents == 1000
    assert [type(e).__name__ for e in harness.published(order_id)] == [
        "PaymentProcessed",
        "PaymentRefunded",
    ]
    assert harness.published(order_id)[0] == PaymentProcessed(
        order_id=order_id, payment_id=charge_id, amount_cents=300
    )


def test_a_failure_reason_round_trips(harness: Harness) -> None:
    order_id = uuid4()
    with harness.uow() as uow:
        uow.orders.lock(order_id).pay(None, 300)
        uow.commit()

    with harness.uow() as uow:
        order = uow.orders.lock(order_id)
        assert uow.orders.payments(order_id) == []
    assert order.failure_reason is PaymentFailureReason.UNKNOWN_CUSTOMER
    assert [type(e).__name__ for e in harness.published(order_id)] == ["PaymentFailed"]


def test_locking_twice_in_one_unit_of_work_returns_the_same_aggregate(harness: Harness) -> None:
    customer, order_id = _customer(), uuid4()
    with harness.uow() as uow:
        uow.accounts.add(Account.open(customer, 5))
        uow.commit()
    with harness.uow() as uow:
        assert uow.accounts.lock(customer) is uow.accounts.lock(customer)
        first: OrderPayment = uow.orders.lock(order_id)
        assert uow.orders.lock(order_id) is first


def test_locking_many_gives_what_lock_gives_and_leaves_out_unknown_accounts(
    harness: Harness,
) -> None:
    alice, bob, ghost = _customer(), _customer(), _customer()
    order_ids = [uuid4(), uuid4()]
    with harness.uow() as uow:
        uow.accounts.add(Account.open(alice, 5))
        uow.accounts.add(Account.open(bob, 7))
        uow.commit()

    with harness.uow() as uow:
        accounts = uow.accounts.lock_many([bob, ghost, alice, bob])
        orders = uow.orders.lock_many([*order_ids, order_ids[0]])
        assert accounts[alice] is uow.accounts.lock(alice)
        assert orders[order_ids[1]] is uow.orders.lock(order_ids[1])
    assert {c: a.balance_cents for c, a in accounts.items()} == {alice: 5, bob: 7}
    assert list(orders) == order_ids
    assert all(not order.settled for order in orders.values())


def test_changes_to_many_orders_and_accounts_commit_together(harness: Harness) -> None:
    alice, bob = _customer(), _customer()
    paid_by_alice, paid_by_bob, failed = uuid4(), uuid4(), uuid4()
    with harness.uow() as uow:
        uow.accounts.add(Account.open(alice, 1000))
        uow.accounts.add(Account.open(bob, 1000))
        uow.commit()

    with harness.uow() as uow:
        orders = uow.orders.lock_many([paid_by_alice, paid_by_bob, failed])
        accounts = uow.accounts.lock_many([alice, bob])
        orders[paid_by_alice].pay(accounts[alice], 100)
        orders[paid_by_bob].pay(accounts[bob], 200)
        orders[failed].pay(accounts[alice], 901)
        orders[paid_by_bob].cancel(accounts[bob])
        uow.commit()

    with harness.uow() as uow:
        balances = {c: a.balance_cents for c, a in uow.accounts.lock_many([alice, bob]).items()}
        reread = uow.orders.lock_many([paid_by_alice, paid_by_bob, failed])
    assert balances == {alice: 900, bob: 1000}
    assert reread[paid_by_alice].charge is not None and not reread[paid_by_alice].cancelled
    assert reread[paid_by_bob].cancelled and reread[paid_by_bob].refund is not None
    assert reread[failed].failure_reason is PaymentFailureReason.INSUFFICIENT_FUNDS
    assert [type(e).__name__ for e in harness.published(paid_by_bob)] == [
        "PaymentProcessed",
        "PaymentRefunded",
    ]
