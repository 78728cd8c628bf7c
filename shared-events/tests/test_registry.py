from typing import Any, ClassVar
from uuid import uuid4

import pytest

from shared_events import (
    DEFAULT_CURRENCY,
    EVENT_REGISTRY,
    Event,
    EventRegistry,
    InvalidEnvelope,
    InvalidPayload,
    NotJson,
    OrderCreated,
    OrderCreatedV1,
    UnknownEventType,
    UnsupportedEventVersion,
    new_envelope,
)


def v1_envelope() -> dict[str, Any]:
    payload = OrderCreatedV1(
        order_id=uuid4(),
        customer_id="alice",
        items=({"sku": "apple", "quantity": 2, "unit_price_cents": 150},),
        total_cents=300,
    )
    return new_envelope(payload, producer="order").model_dump(mode="json")


def test_v1_order_created_is_upcast_to_v2_with_the_default_currency() -> None:
    data = v1_envelope()
    envelope = EVENT_REGISTRY.parse_envelope(data)
    assert isinstance(envelope.payload, OrderCreated)
    assert envelope.event_version == 2
    assert envelope.payload.currency == DEFAULT_CURRENCY == "EUR"
    assert envelope.payload.total_cents == 300
    assert str(envelope.event_id) == data["event_id"]


def test_unknown_fields_are_ignored_at_envelope_and_payload_level() -> None:
    data = v1_envelope()
    data["added_in_envelope_v9"] = {"anything": 1}
    data["producer"]["region"] = "eu"
    data["payload"]["loyalty_points"] = 12
    data["payload"]["items"][0]["gift_wrap"] = True
    envelope = EVENT_REGISTRY.parse_envelope(data)
    assert isinstance(envelope.payload, OrderCreated)
    assert "loyalty_points" not in envelope.payload.model_dump()


class Parcel1(Event):
    event_type: ClassVar[str] = "Parcel"
    event_version: ClassVar[int] = 1
    topic: ClassVar[str] = "parcels"
    grams: int


class Parcel2(Parcel1):
    event_version: ClassVar[int] = 2
    kilograms: float


class Parcel3(Event):
    event_type: ClassVar[str] = "Parcel"
    event_version: ClassVar[int] = 3
    topic: ClassVar[str] = "parcels"
    kilograms: float
    fragile: bool

    def key(self) -> str:
        return "parcel"


def parcels() -> EventRegistry:
    return EventRegistry(
        [Parcel1, Parcel2, Parcel3],
        {
            ("Parcel", 1): lambda p: {**p, "kilograms": p["grams"] / 1000},
            ("Parcel", 2): lambda p: {"kilograms": p["kilograms"], "fragile": False},
        },
    )


def test_upcasters_chain_from_the_oldest_version_to_the_newest() -> None:
    assert parcels().upcast("Parcel", 1, {"grams": 1500}) == {"kilograms": 1.5, "fragile": False}
    assert parcels().upcast("Parcel", 3, {"kilograms": 2, "fragile": True}) == {
        "kilograms": 2,
        "fragile": True,
    }


def test_a_version_without_upcaster_is_read_as_it_is() -> None:
    registry = EventRegistry([Parcel1, Parcel2])
    assert registry.upcast("Parcel", 1, {"grams": 5}) == {"grams": 5}


def test_a_version_is_registered_once() -> None:
    with pytest.raises(ValueError, match="already registered"):
        EventRegistry([Parcel1, Parcel1])


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(UnknownEventType) as raised:
        EVENT_REGISTRY.parse_envelope(v1_envelope() | {"event_type": "OrderTeleported"})
    assert raised.value.reason == "unknown_event_type"


@pytest.mark.parametrize("version", [0, 3, 99])
def test_unsupported_event_version_is_refused(version: int) -> None:
    with pytest.raises(UnsupportedEventVersion) as raised:
        EVENT_REGISTRY.parse_envelope(v1_envelope() | {"event_version": version})
    assert raised.value.reason == "unsupported_event_version"


@pytest.mark.parametrize(
    "payload",
    [None, [], {"order_id": "nope"}, {"customer_id": "alice"}],
)
def test_invalid_payload_is_refused(payload: object) -> None:
    with pytest.raises(InvalidPayload) as raised:
        EVENT_REGISTRY.parse_envelope(v1_envelope() | {"payload": payload})
    assert raised.value.reason == "invalid_payload"


@pytest.mark.parametrize(
    "change",
    [
        {"event_id": "nope"},
        {"occurred_at": "2024-01-01T00:00:00"},
        {"producer": None},
        {"correlation_id": ""},
        {"event_version": "1"},
        {"event_type": None},
    ],
)
def test_invalid_envelope_is_refused(change: dict[str, object]) -> None:
    with pytest.raises(InvalidEnvelope) as raised:
        EVENT_REGISTRY.parse_envelope(v1_envelope() | change)
    assert raised.value.reason == "invalid_envelope"


def test_a_non_object_is_not_an_envelope() -> None:
    with pytest.raises(NotJson):
        EVENT_REGISTRY.parse_envelope([1, 2])
