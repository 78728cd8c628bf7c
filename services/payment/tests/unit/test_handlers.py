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
from payment_service.memory import MemoryStore, MemoryUnitOfWork
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


def _store_with(balances: dict[str, int]) -> MemoryStore:
    store = MemoryStore()
    for customer_id, balance in balances.items():
        open_account(OpenAccount(customer_id, balance), MemoryUnitOfWork(store))
    return store


def _pay(store: MemoryStore, order_id: UUID, customer_id: str, amount: int) -> None:
    pay_order(PayOrder(order_id, customer_id, amount), MemoryUnitOfWork(store))


def _cancel(store: MemoryStore, order_id: UUID) -> None:
    compensate_order(CompensateOrder(order_id), MemoryUnitOfWork(store))


def _created(order_id: UUID, customer_id: str, total: int) -> Envelope[OrderCreated]:
    line = OrderLine(sku="sku-1", quantity=1, unit_price_cents=total)
    event = OrderCreated(
        order_id=order_id, customer_id=customer_id, items=(line,), total_cents=total, currency="EUR"
    )
    return new_envelope(event, producer="order")


def _cancelled(order_id: UUID) -> Envelope[OrderCancelled]:
    event = OrderCancelled(order_id=order_id, reason=CancelReason.CUSTOMER_CANCELLED)
    return new_envelope(event, producer="order")


def _balance(store: MemoryStore, customer_id: str) -> int:
    return get_account(customer_id, MemoryUnitOfWork(store)).balance_cents


def _kinds(store: MemoryStore, order_id: UUID) -> list[EntryKind]:
    return [p.kind for p in list_payments(order_id, MemoryUnitOfWork(store))]


def test_opening_an_account_stores_its_balance() -> None:
    store = _store_with({"alice": 500})

    assert _balance(store, "alice") == 500


def test_opening_an_existing_account_conflicts_and_changes_nothing() -> None:
    store = _store_with({"alice": 500})

    with pytest.raises(AccountAlreadyExists):
        open_account(OpenAccount("alice", 9), MemoryUnitOfWork(store))

    assert _balance(store, "alice") == 500
    assert ledger_summary(MemoryUnitOfWork(store)).opening_cents == 500


def test_a_deposit_returns_the_new_balance() -> None:
    store = _store_with({"alice": 500})

    account = deposit(Deposit("alice", 250), MemoryUnitOfWork(store))

    assert account.balance_cents == 750 == _balance(store, "alice")


def test_depositing_to_an_unknown_account_fails() -> None:
    store = MemoryStore()

    with pytest.raises(UnknownAccount):
        deposit(Deposit("nobody", 250), MemoryUnitOfWork(store))
    assert store.ledger == []


def test_getting_an_unknown_account_fails() -> None:
    with pytest.raises(UnknownAccount):
        get_account("nobody", MemoryUnitOfWork())


def test_order_created_charges_the_balance_and_emits_payment_processed() -> None:
    store, order_id = _store_with({"alice": 1000}), uuid4()

    _pay(store, order_id, "alice", 300)

    assert _balance(store, "alice") == 700
    [charge] = list_payments(order_id, MemoryUnitOfWork(store))
    assert (charge.kind, charge.amount_cents, charge.customer_id) == (
        EntryKind.CHARGE,
        300,
        "alice",
    )
    [event] = [e.payload for e in store.outbox]
    assert event == PaymentProcessed(
        order_id=order_id, payment_id=charge.entry_id, amount_cents=300
    )


def test_a_redelivered_order_created_charges_once() -> None:
    store, order_id = _store_with({"alice": 1000}), uuid4()

    _pay(store, order_id, "alice", 300)
    _pay(store, order_id, "alice", 300)

    assert _balance(store, "alice") == 700
    assert _kinds(store, order_id) == [EntryKind.CHARGE]
    assert len(store.outbox) == 1


def test_order_of_an_unknown_customer_fails_with_unknown_customer() -> None:
    store, order_id = MemoryStore(), uuid4()

    _pay(store, order_id, "nobody", 300)

    assert [e.payload for e in store.outbox] == [
        PaymentFailed(order_id=order_id, reason=PaymentFailureReason.UNKNOWN_CUSTOMER)
    ]
    assert _kinds(store, order_id) == []


def test_order_beyond_the_balance_fails_with_insufficient_funds() -> None:
    store, order_id = _store_with({"alice": 299}), uuid4()

    _pay(store, order_id, "alice", 300)

    assert [e.payload for e in store.outbox] == [
        PaymentFailed(order_id=order_id, reason=PaymentFailureReason.INSUFFICIENT_FUNDS)
    ]
    assert _balance(store, "alice") == 299


def test_a_redelivered_failed_order_fails_once() -> None:
    store, order_id = _store_with({"alice": 10}), uuid4()

    _pay(store, order_id, "alice", 300)
    deposit(Deposit("alice", 1000), MemoryUnitOfWork(store))
    _pay(store, order_id, "alice", 300)

    assert _balance(store, "alice") == 1010
    assert len(store.outbox) == 1


def test_cancellation_after_the_charge_refunds_it() -> None:
    store, order_id = _store_with({"alice": 1000}), uuid4()
    _pay(store, order_id, "alice", 300)

    _cancel(store, order_id)

    assert _balance(store, "alice") == 1000
    charge, refund = list_payments(order_id, MemoryUnitOfWork(store))
    assert (refund.kind, refund.amount_cents) == (EntryKind.REFUND, 300)
    assert store.outbox[-1].payload == PaymentRefunded(
        order_id=order_id, payment_id=refund.entry_id, amount_cents=300
    )


def test_a_redelivered_cancellation_refunds_once() -> None:
    store, order_id = _store_with({"alice": 1000}), uuid4()
    _pay(store, order_id, "alice", 300)

    _cancel(store, order_id)
    _cancel(store, order_id)

    assert _balance(store, "alice") == 1000
    assert _kinds(store, order_id) == [EntryKind.CHARGE, EntryKind.REFUND]
    assert len(store.outbox) == 2


def test_cancellation_before_the_order_created_prevents_the_charge() -> None:
    store, order_id = _store_with({"alice": 1000}), uuid4()

    _cancel(store, order_id)
    _pay(store, order_id, "alice", 300)

    assert _balance(store, "alice") == 1000
    assert _kinds(store, order_id) == []
    assert store.outbox == []


def test_cancellation_of_a_failed_order_refunds_nothing() -> None:
    store, order_id = _store_with({"alice": 10}), uuid4()
    _pay(store, order_id, "alice", 300)

    _cancel(store, order_id)

    assert _kinds(store, order_id) == []
    assert [type(e.payload) for e in store.outbox] == [PaymentFailed]


def test_events_caused_by_an_event_carry_its_correlation_and_causation() -> None:
    store, order_id = _store_with({"alice": 1000}), uuid4()
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

    pay_order(PayOrder(order_id, "alice", 300), MemoryUnitOfWork(store, causes=[created]))
    compensate_order(CompensateOrder(order_id), MemoryUnitOfWork(store, causes=[cancelled]))

    processed, refunded = store.outbox
    assert processed.correlation_id == refunded.correlation_id == str(order_id)
    assert processed.causation_id == created.event_id
    assert refunded.causation_id == cancelled.event_id
    assert processed.producer.service == "payment"


def test_orders_of_one_customer_in_one_call_draw_on_one_balance() -> None:
    store = _store_with({"alice": 500})
    first, second, third = uuid4(), uuid4(), uuid4()
    batch = [
        _created(first, "alice", 200),
        _created(second, "alice", 250),
        _created(third, "alice", 100),
    ]

    orders_created(batch, MemoryUnitOfWork(store, causes=batch))

    assert _balance(store, "alice") == 50
    assert [e.payload for e in store.outbox] == [
        PaymentProcessed(order_id=first, payment_id=store.ledger[-2].entry_id, amount_cents=200),
        PaymentProcessed(order_id=second, payment_id=store.ledger[-1].entry_id, amount_cents=250),
        PaymentFailed(order_id=third, reason=PaymentFailureReason.INSUFFICIENT_FUNDS),
    ]


def test_each_event_of_a_call_follows_the_consumed_event_of_its_order() -> None:
    store = _store_with({"alice": 1000})
    batch = [_created(uuid4(), "alice", 100), _created(uuid4(), "nobody", 100)]

    orders_created(batch, MemoryUnitOfWork(store, causes=batch))

    assert [(e.correlation_id, e.causation_id) for e in store.outbox] == [
        (c.correlation_id, c.event_id) for c in batch
    ]


def test_cancellations_in_one_call_refund_only_the_charged_orders() -> None:
    store = _store_with({"alice": 1000, "bob": 1000})
    charged_a, charged_b, failed, unseen = uuid4(), uuid4(), uuid4(), uuid4()
    _pay(store, charged_a, "alice", 300)
    _pay(store, charged_b, "bob", 400)
    _pay(store, failed, "alice", 5000)
    store.outbox.clear()
    batch = [_cancelled(charged_a), _cancelled(failed), _cancelled(unseen), _cancelled(charged_b)]

    orders_cancelled(batch, MemoryUnitOfWork(store, causes=batch))

    assert _balance(store, "alice") == _balance(store, "bob") == 1000
    assert [(type(e.payload), e.causation_id) for e in store.outbox] == [
        (PaymentRefunded, batch[0].event_id),
        (PaymentRefunded, batch[3].event_id),
    ]
    assert all(store.orders[o].cancelled for o in (charged_a, charged_b, failed, unseen))


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
    ops: list[tuple[str, int, str, int]],
) -> None:
    store = _store_with({"alice": 1000, "bob": 0})
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
            deposit(Deposit(customer_id, amount), MemoryUnitOfWork(store))

    assert ledger_summary(MemoryUnitOfWork(store)).balanced
    assert all(balance >= 0 for balance in store.balances.values())
    for order_id in order_ids:
        kinds = _kinds(store, order_id)
        assert kinds.count(EntryKind.CHARGE) <= 1 and kinds.count(EntryKind.REFUND) <= 1
        if order_id in cancelled:
            assert kinds in ([], [EntryKind.CHARGE, EntryKind.REFUND])
