"""An order the saga deadline cancelled (reason timed_out) is compensated like any other."""

from typing import Any
from uuid import UUID, uuid4

import pytest

from payment_service.domain import EntryKind
from payment_service.handlers import (
    OpenAccount,
    get_account,
    list_payments,
    open_account,
    orders_cancelled,
    orders_created,
)
from shared_events import (
    CancelReason,
    Envelope,
    Event,
    OrderCreated,
    OrderLine,
    PaymentRefunded,
    new_envelope,
    order_cancelled,
)
from shared_events.kafka import decode, encode


def _wire(event: Event) -> Envelope[Event]:
    """As the consumer receives it: encoded by the order service, decoded (upcast) here."""
    record = encode(new_envelope(event, producer="order"))
    return decode(record.value, record.headers)


def _created(order_id: UUID, total: int = 300) -> Envelope[Event]:
    line = OrderLine(sku="sku-1", quantity=1, unit_price_cents=total)
    return _wire(
        OrderCreated(
            order_id=order_id, customer_id="alice", items=(line,), total_cents=total, currency="EUR"
        )
    )


FakeUow = Any  # FakeUnitOfWork from tests/conftest.py


def _deliver(store: FakeUow, event: Envelope[Event]) -> None:
    handler = orders_created if event.event_type == "OrderCreated" else orders_cancelled
    handler([event], store.riding([event]))  # type: ignore[list-item]


@pytest.fixture
def store(uow: FakeUow) -> FakeUow:
    open_account(OpenAccount("alice", 1000), uow)
    return uow


def _balance(store: FakeUow) -> int:
    return get_account("alice", store).balance_cents


@pytest.mark.parametrize("reason", list(CancelReason))
def test_a_charged_order_is_refunded_whatever_the_cancel_reason(
    store: FakeUow, reason: CancelReason
) -> None:
    order_id = uuid4()
    _deliver(store, _created(order_id))

    _deliver(store, _wire(order_cancelled(order_id, reason)))

    assert _balance(store) == 1000
    kinds = [p.kind for p in list_payments(order_id, store)]
    assert kinds == [EntryKind.CHARGE, EntryKind.REFUND]
    assert [type(e.payload) for e in store.outbox][-1] is PaymentRefunded


def test_an_order_created_arriving_after_the_timeout_is_never_charged(store: FakeUow) -> None:
    order_id = uuid4()
    _deliver(store, _wire(order_cancelled(order_id, CancelReason.TIMED_OUT)))

    _deliver(store, _created(order_id))

    assert _balance(store) == 1000
    assert list_payments(order_id, store) == []
    assert store.outbox == []
