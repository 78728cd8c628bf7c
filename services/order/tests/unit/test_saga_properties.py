"""Any arrival order of one order's saga events, with redeliveries, ends consistently."""

from hypothesis import given, settings
from hypothesis import strategies as st

from order_service import handlers
from order_service.domain import OrderStatus
from order_service.handlers import PlaceOrder
from shared_events import CancelReason

APPLY = {
    "PaymentProcessed": handlers.payments_processed,
    "PaymentFailed": handlers.payments_failed,
    "ItemsReserved": handlers.items_reserved,
    "InventoryFailed": handlers.inventory_failed,
    "PaymentRefunded": handlers.payments_refunded,
    "ItemsReleased": handlers.items_released,
}
DECISIVE = {
    "ItemsReserved": (OrderStatus.CONFIRMED, None),
    "PaymentFailed": (OrderStatus.CANCELLED, CancelReason.PAYMENT_FAILED),
    "InventoryFailed": (OrderStatus.CANCELLED, CancelReason.OUT_OF_STOCK),
}
BUILDERS = [
    "payment_processed",
    "payment_failed",
    "items_reserved",
    "inventory_failed",
    "payment_refunded",
    "items_released",
]


@settings(deadline=None)  # no timed assertions: the machine running tests is shared
@given(
    kinds=st.lists(st.sampled_from(BUILDERS), min_size=1, max_size=6, unique=True),
    deliveries=st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=12),
)
def test_the_first_decisive_event_decides_and_nothing_is_emitted_twice(
    new_uow, saga, kinds, deliveries
):
    uow = new_uow()
    handlers.products_upserted([saga.product_upserted("SKU-1", 500)], uow)
    order = handlers.place_order(PlaceOrder("alice", (("SKU-1", 1),)), uow)
    events = [getattr(saga, kind)(order.order_id) for kind in kinds]
    arrivals = [events[i % len(events)] for i in deliveries]

    for event in arrivals:
        APPLY[event.event_type]([event], uow)

    stored = uow.order(order.order_id)
    decisive = [e.event_type for e in arrivals if e.event_type in DECISIVE]
    if decisive:
        expected = DECISIVE[decisive[0]]
    elif any(e.event_type == "PaymentProcessed" for e in arrivals):
        expected = (OrderStatus.PAYMENT_RECEIVED, None)
    else:
        expected = (OrderStatus.PENDING, None)
    assert (stored.status, stored.cancel_reason) == expected
    outcomes = uow.published("OrderConfirmed") + uow.published("OrderCancelled")
    assert len(outcomes) == (1 if decisive else 0)
    consumed = {e.event_id for e in arrivals}
    assert len(stored.history) == 1 + len(consumed) + len(outcomes)
