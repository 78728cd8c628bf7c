"""OrderCancelled v2 (reason `timed_out`) beside v1: what is written, and who can read it."""

from uuid import uuid4

import pytest

from shared_events import (
    EVENT_REGISTRY,
    CancelReason,
    EventRegistry,
    OrderCancelled,
    OrderCancelledV1,
    UnsupportedEventVersion,
    new_envelope,
    order_cancelled,
)
from shared_events.contracts.orders import upcast_order_created_v1
from shared_events.kafka import decode, encode

# The readers of the previous contracts release (2.0): OrderCancelled v1 only.
PREVIOUS_RELEASE = EventRegistry(
    [
        EVENT_REGISTRY.model(t, v)
        for t in EVENT_REGISTRY.event_types()
        for v in EVENT_REGISTRY.versions(t)
        if (t, v) != ("OrderCancelled", 2)
    ],
    {("OrderCreated", 1): upcast_order_created_v1},
)
V1_REASONS = [r for r in CancelReason if r is not CancelReason.TIMED_OUT]


@pytest.mark.parametrize("reason", V1_REASONS)
def test_a_reason_v1_knows_is_written_as_v1(reason: CancelReason) -> None:
    event = order_cancelled(uuid4(), reason)

    assert isinstance(event, OrderCancelledV1)
    assert event.reason == reason


def test_timed_out_is_written_as_v2() -> None:
    event = order_cancelled(uuid4(), CancelReason.TIMED_OUT)

    assert isinstance(event, OrderCancelled)
    assert (event.event_version, event.reason) == (2, CancelReason.TIMED_OUT)


@pytest.mark.parametrize("reason", list(CancelReason))
def test_current_readers_get_v2_whatever_was_written(reason: CancelReason) -> None:
    order_id = uuid4()
    record = encode(new_envelope(order_cancelled(order_id, reason), producer="order"))

    decoded = decode(record.value, record.headers)

    assert decoded.event_version == 2
    assert isinstance(decoded.payload, OrderCancelled)
    assert (decoded.payload.order_id, decoded.payload.reason) == (order_id, reason)
    assert decoded.payload.reason is reason


@pytest.mark.parametrize("reason", V1_REASONS)
def test_readers_of_the_previous_release_still_read_every_older_reason(
    reason: CancelReason,
) -> None:
    record = encode(new_envelope(order_cancelled(uuid4(), reason), producer="order"))

    decoded = decode(record.value, record.headers, registry=PREVIOUS_RELEASE)

    assert (decoded.event_version, decoded.payload.model_dump(mode="json")["reason"]) == (
        1,
        reason.value,
    )


def test_readers_of_the_previous_release_refuse_a_timed_out_cancel_as_a_newer_version() -> None:
    # Dead-lettered as `unsupported_event_version`, to be replayed once the reader is upgraded.
    record = encode(
        new_envelope(order_cancelled(uuid4(), CancelReason.TIMED_OUT), producer="order")
    )

    with pytest.raises(UnsupportedEventVersion):
        decode(record.value, record.headers, registry=PREVIOUS_RELEASE)


def test_v1_cannot_carry_timed_out() -> None:
    with pytest.raises(ValueError, match="timed_out"):
        OrderCancelledV1(order_id=uuid4(), reason="timed_out")  # type: ignore[arg-type]
