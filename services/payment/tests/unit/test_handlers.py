from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payment_service.domain import AccountAlreadyExists, EntryKind, UnknownAccount
from payment_service.handlers import (
    CompensateOrder,
    Deposit,
    OpenAccount,
    PayOrder,
    compensate_order,
    deposit,
    get_account,
    ledger_summary,
    list_payments,
    open_account,
    orders_cancelled,
    orders_created,
    pay_order,
)
from shared_events import (
    CancelReason,
    Envelope,
    OrderCancelled,
    OrderCreated,
    OrderLine,
    PaymentFailed,
    PaymentFailureReason,
    PaymentProcessed,
    PaymentRefunded,
    new_envelope,
)

FakeUow = Any  # FakeUnitOfWork from tests/conftest.py
NewUow = type[FakeUow]


def _store_with(store: FakeUow, balances: dict[str, int]) -> FakeUow:
    for customer_id, balance in balances.items():
        open_account(OpenAccount(customer_id, balance), store)
    return store


def _pay(store: FakeUow, order_id: UUID, customer_id: str, amount: int) -> None:
    pay_order(PayOrder(order_id, customer_id, amount), store)


def _cancel(store: FakeUow, order_id: UUID) -> None:
    compensate_order(CompensateOrder(order_id), store)


def _created(order_id: UUID, customer_id: str, total: int) -> Envelope[OrderCreated]:
    line = OrderLine(sku="sku-1", quantity=1, unit_price_cents=total)
    event = OrderCreated(
        order_id=order_id, customer_id=customer_id, items=(line,), total_cents=total, currency="EUR"
    )
    return new_envelope(event, producer="order")


def _cancelled(order_id: UUID) -> Envelope[OrderCancelled]:
    event = OrderCancelled(order_id=order_id, reason=CancelReason.CUSTOMER_CANCELLED)
    return new_envelope(event, producer="order")


def _balance(store: FakeUow, customer_id: str) -> int:
    return get_account(customer_id, store).balance_cents


def _kinds(store: FakeUow, order_id: UUID) -> list[EntryKind]:
    return [p.kind for p in list_payments(order_id, store)]


def test_opening_an_account_stores_its_balance(new_uow: NewUow) -> None:
    store = _store_with(new_uow(), {"alice": 500})

    assert _balance(store, "alice") == 500


def test_opening_an_existing_account_conflicts_and_changes_nothing(new_uow: NewUow) -> None:
    store = _store_with(new_uow(), {"alice": 500})

    with pytest.raises(AccountAlreadyExists):
        open_account(OpenAccount("alice", 9), store)

    assert _balance(store, "alice") == 500
    assert ledger_summary(store).opening_cents == 500


def test_a_deposit_returns_the_new_balance(new_uow: NewUow) -> None:
    store = _store_with(new_uow(), {"alice": 500})

    account = deposit(Deposit("alice", 250), store)

    assert account.balance_cents == 750 == _balance(store, "alice")


def test_depositing_to_an_unknown_account_fails(new_uow: NewUow) -> None:
    store = new_uow()

    with pytest.raises(UnknownAccount):
        deposit(Deposit("nobody", 250), store)
    assert store.committed_ledger == []


def test_getting_an_unknown_account_fails(new_uow: NewUow) -> None:
    with pytest.raises(UnknownAccount):
        get_account("nobody", new_uow())


def test_order_created_charges_the_balance_and_emits_payment_processed(new_uow: NewUow) -> None:
    store, order_id = _store_with(new_uow(), {"alice": 1000}), uuid4()

    _pay(store, order_id, "alice", 300)

    assert _balance(store, "alice") == 700
    [charge] = list_payments(order_id, store)
    assert (charge.kind, charge.amount_cents, charge.customer_id) == (
        EntryKind.CHARGE,
        300,
        "alice",
    )
    [event] = [e.payload for e in store.outbox]
    assert event == PaymentProcessed(
        order_id=order_id, payment_id=charge.entry_id, amount_cents=300
    )


def test_a_redelivered_order_created_charges_once(new_uow: NewUow) -> None:
    store, order_id = _store_with(new_uow(), {"alice": 1000}), uuid4()

    _pay(store, order_id, "alice", 300)
    _pay(store, order_id, "alice", 300)

    assert _balance(store, "alice") == 700
    assert _kinds(store, order_id) == [EntryKind.CHARGE]
    assert len(store.outbox) == 1


def test_order_of_an_unknown_customer_fails_with_unknown_customer(new_uow: NewUow) -> None:
    store, order_id = new_uow(), uuid4()

    _pay(store, order_id, "nobody", 300)

    assert [e.payload for e in store.outbox] == [
        PaymentFailed(order_id=order_id, reason=PaymentFailureReason.UNKNOWN_CUSTOMER)
    ]
    assert _kinds(store, order_id) == []


def test_order_beyond_the_balance_fails_with_insufficient_funds(new_uow: NewUow) -> None:
    store, order_id = _store_with(new_uow(), {"alice": 299}), uuid4()

    _pay(store, order_id, "alice", 300)

    assert [e.payload for e in store.outbox] == [
        PaymentFailed(order_id=order_id, reason=PaymentFailureReason.INSUFFICIENT_FUNDS)
    ]
    assert _balance(store, "alice") == 299


def test_a_redelivered_failed_order_fails_once(new_uow: NewUow) -> None:
    store, order_id = _store_with(new_uow(), {"alice": 10}), uuid4()

    _pay(store, order_id, "alice", 300)
    deposit(Deposit("alice", 1000), store)
    _pay(store, order_id, "alice", 300)

    assert _balance(store, "alice") == 1010
    assert len(store.outbox) == 1


def test_cancellation_after_the_charge_refunds_it(new_uow: NewUow) -> None:
    store, order_id = _store_with(new_uow(), {"alice": 1000}), uuid4()
    _pay(store, order_id, "alice", 300)

    _cancel(store, order_id)

    assert _balance(store, "alice") == 1000
    charge, refund = list_payments(order_id, store)
    assert (refund.kind, refund.amount_cents) == (EntryKind.REFUND, 300)
    assert store.outbox[-1].payload == PaymentRefunded(
        order_id=order_id, payment_id=refund.entry_id, amount_cents=300
    )


def test_a_redelivered_cancellation_refunds_once(new_uow: NewUow) -> None:
    store, order_id = _store_with(new_uow(), {"alice": 1000}), uuid4()
    _pay(store, order_id, "alice", 300)

    _cancel(store, order_id)
    _cancel(store, order_id)

    assert _balance(store, "alice") == 1000
    assert _kinds(store, order_id) == [EntryKind.CHARGE, EntryKind.REFUND]
    assert len(store.outbox) == 2


def test_cancellation_before_the_order_created_prevents_the_charge(new_uow: NewUow) -> None:
    store, order_id = _store_with(new_uow(), {"alice": 1000}), uuid4()

    _cancel(store, order_id)
    _pay(store, order_id, "alice", 300)

    assert _balance(store, "alice") == 1000
    assert _kinds(store, order_id) == []
    assert store.outbox == []


def test_cancellation_of_a_failed_order_refunds_nothing(new_uow: NewUow) -> None:
    store, order_id = _store_with(new_uow(), {"alice": 10}), uuid4()
    _pay(store, order_id, "alice", 300)

    _cancel(store, order_id)

    assert _kinds(store, order_id) == []
    assert [type(e.payload) for e in store.outbox] == [PaymentFailed]


def test_events_caused_by_an_event_carry_its_correlation_and_causation(new_uow: NewUow) -> None:
    store, order_id = _store_with(new_uow(), {"alice": 1000}), uuid4()
    created = new_envelope(
        OrderCreated(
            order_id=order_id,
            customer_id="alice",
            items=(OrderLine(sku="sku-1", quantity=1, unit_price_cents=300),),
            total_cents=300,
            currency="EUR",
        ),
        producer="order",
    )
    cancelled = new_envelope(
        OrderCancelled(order_id=order_id, reason=CancelReason.OUT_OF_STOCK), producer="order"
    )

    pay_order(PayOrder(order_id, "alice", 300), store.riding([created]))
    compensate_order(CompensateOrder(order_id), store.riding([cancelled]))

    processed, refunded = store.outbox
    assert processed.correlation_id == refunded.correlation_id == str(order_id)
    assert processed.causation_id == created.event_id
    assert refunded.causation_id == cancelled.event_id
    assert processed.producer.service == "payment"


def test_orders_of_one_customer_in_one_call_draw_on_one_balance(new_uow: NewUow) -> None:
    store = _store_with(new_uow(), {"alice": 500})
    first, second, third = uuid4(), uuid4(), uuid4()
    batch = [
        _created(first, "alice", 200),
        _created(second, "alice", 250),
        _created(third, "alice", 100),
    ]

    orders_created(batch, store.riding(batch))

    assert _balance(store, "alice") == 50
    assert [e.payload for e in store.outbox] == [
        PaymentProcessed(
            order_id=first, payment_id=store.committed_ledger[-2].entry_id, amount_cents=200
        ),
        PaymentProcessed(
            order_id=second, payment_id=store.committed_ledger[-1].entry_id, amount_cents=250
        ),
        PaymentFailed(order_id=third, reason=PaymentFailureReason.INSUFFICIENT_FUNDS),
    ]


def test_each_event_of_a_call_follows_the_consumed_event_of_its_order(new_uow: NewUow) -> None:
    store = _store_with(new_uow(), {"alice": 1000})
    batch = [_created(uuid4(), "alice", 100), _created(uuid4(), "nobody", 100)]

    orders_created(batch, store.riding(batch))

    assert [(e.correlation_id, e.causation_id) for e in store.outbox] == [
        (c.correlation_id, c.event_id) for c in batch
    ]


def test_cancellations_in_one_call_refund_only_the_charged_orders(new_uow: NewUow) -> None:
    store = _store_with(new_uow(), {"alice": 1000, "bob": 1000})
    charged_a, charged_b, failed, unseen = uuid4(), uuid4(), uuid4(), uuid4()
    _pay(store, charged_a, "alice", 300)
    _pay(store, charged_b, "bob", 400)
    _pay(store, failed, "alice", 5000)
    store.outbox.clear()
    batch = [_cancelled(charged_a), _cancelled(failed), _cancelled(unseen), _cancelled(charged_b)]

    orders_cancelled(batch, store.riding(batch))

    assert _balance(store, "alice") == _balance(store, "bob") == 1000
    assert [(type(e.payload), e.causation_id) for e in store.outbox] == [
        (PaymentRefunded, batch[0].event_id),
        (PaymentRefunded, batch[3].event_id),
    ]
    assert all(store.committed_orders[o].cancelled for o in (charged_a, charged_b, failed, unseen))


operations = st.lists(
    st.tuples(
        st.sampled_from(["pay", "cancel", "deposit"]),
        st.integers(0, 4),  # which order
        st.sampled_from(["alice", "bob", "nobody"]),
        st.integers(1, 700),
    ),
    max_size=40,
)


@settings(deadline=None)  # no timed assertions: the machine running tests is shared
@given(operations)
def test_money_is_conserved_and_cancelled_orders_net_zero(
    new_uow: NewUow,
    ops: list[tuple[str, int, str, int]],
) -> None:
    store = _store_with(new_uow(), {"alice": 1000, "bob": 0})
    order_ids = [uuid4() for _ in range(5)]
    cancelled: set[UUID] = set()
    for op, index, customer_id, amount in ops:
        order_id = order_ids[index]
        if op == "pay":
            _pay(store, order_id, customer_id, amount)
        elif op == "cancel":
            _cancel(store, order_id)
            cancelled.add(order_id)
        elif customer_id != "nobody":
            deposit(Deposit(customer_id, amount), store)

    assert ledger_summary(store).balanced
    assert all(balance >= 0 for balance in store.committed_balances.values())
    for order_id in order_ids:
        kinds = _kinds(store, order_id)
        assert kinds.count(EntryKind.CHARGE) <= 1 and kinds.count(EntryKind.REFUND) <= 1
        if order_id in cancelled:
            assert kinds in ([], [EntryKind.CHARGE, EntryKind.REFUND])
