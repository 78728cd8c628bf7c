from uuid import uuid4

import pytest

from payment_service.domain import (
    Account,
    EntryKind,
    InsufficientFunds,
    LedgerSummary,
    OrderPayment,
    UnknownAccount,
)
from shared_events import PaymentFailed, PaymentFailureReason, PaymentProcessed, PaymentRefunded


def test_opening_an_account_records_the_opening_balance_in_the_ledger() -> None:
    account = Account.open("alice", 500)

    assert account.balance_cents == 500
    assert [(e.kind, e.amount_cents) for e in account.new_entries] == [(EntryKind.OPENING, 500)]


def test_an_account_may_open_empty_but_not_negative() -> None:
    assert Account.open("alice", 0).balance_cents == 0
    with pytest.raises(ValueError):
        Account.open("alice", -1)


def test_deposit_adds_to_the_balance() -> None:
    account = Account("alice", 100)

    entry = account.deposit(50)

    assert account.balance_cents == 150
    assert entry.kind is EntryKind.DEPOSIT and entry.delta_cents == 50


@pytest.mark.parametrize("amount", [0, -5])
def test_money_movements_must_be_positive(amount: int) -> None:
    with pytest.raises(ValueError):
        Account("alice", 100).deposit(amount)


def test_a_charge_never_overdraws() -> None:
    account = Account("alice", 100)

    with pytest.raises(InsufficientFunds):
        account.charge(uuid4(), 101)
    assert account.balance_cents == 100
    assert account.new_entries == []


def test_a_charge_may_take_the_whole_balance() -> None:
    account = Account("alice", 100)

    entry = account.charge(uuid4(), 100)

    assert account.balance_cents == 0
    assert entry.delta_cents == -100


def test_paying_an_order_charges_once_and_records_payment_processed() -> None:
    order, account = OrderPayment(uuid4()), Account("alice", 1000)

    order.pay(account, 300)
    order.pay(account, 300)

    assert account.balance_cents == 700
    assert order.charge is not None and order.charge.amount_cents == 300
    assert order.events == [
        PaymentProcessed(
            order_id=order.order_id, payment_id=order.charge.entry_id, amount_cents=300
        )
    ]


def test_paying_for_an_unknown_customer_fails_without_charging() -> None:
    order = OrderPayment(uuid4())

    order.pay(None, 300)

    assert order.charge is None
    assert order.events == [
        PaymentFailed(order_id=order.order_id, reason=PaymentFailureReason.UNKNOWN_CUSTOMER)
    ]


def test_a_failed_payment_is_not_retried_later() -> None:
    order, account = OrderPayment(uuid4()), Account("alice", 100)
    order.pay(account, 300)
    account.deposit(1000)

    order.pay(account, 300)

    assert order.charge is None
    assert order.failure_reason is PaymentFailureReason.INSUFFICIENT_FUNDS
    assert len(order.events) == 1


def test_a_cancelled_order_is_never_charged() -> None:
    order, account = OrderPayment(uuid4()), Account("alice", 1000)
    order.cancel(None)

    order.pay(account, 300)

    assert order.charge is None and order.events == []
    assert account.balance_cents == 1000


def test_cancelling_a_charged_order_refunds_it_once() -> None:
    order, account = OrderPayment(uuid4()), Account("alice", 1000)
    order.pay(account, 300)
    order.events.clear()

    order.cancel(account)
    order.cancel(account)

    assert account.balance_cents == 1000
    assert order.refund is not None and order.refund.amount_cents == 300
    assert order.events == [
        PaymentRefunded(order_id=order.order_id, payment_id=order.refund.entry_id, amount_cents=300)
    ]


def test_cancelling_an_uncharged_order_refunds_nothing() -> None:
    order = OrderPayment(uuid4())

    order.cancel(None)

    assert order.cancelled and order.refund is None and order.events == []


def test_a_refund_goes_to_the_charged_account_only() -> None:
    order = OrderPayment(uuid4())
    order.pay(Account("alice", 1000), 300)

    with pytest.raises(UnknownAccount):
        order.cancel(Account("bob", 0))


def test_the_ledger_summary_is_balanced_when_money_is_conserved() -> None:
    balanced = LedgerSummary(2, 900, 1000, 100, 300, 100)
    leaking = LedgerSummary(2, 901, 1000, 100, 300, 100)

    assert balanced.balanced
    assert not leaking.balanced
