from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared_events import (
    CONTRACTS_VERSION,
    DEFAULT_CURRENCY,
    EVENT_REGISTRY,
    DecodeError,
    Envelope,
    Event,
    InvalidEnvelope,
    InvalidPayload,
    InventoryFailed,
    ItemsReleased,
    ItemsReserved,
    NotJson,
    OrderCancelled,
    OrderCancelledV1,
    OrderConfirmed,
    OrderCreated,
    OrderCreatedV1,
    OrderLine,
    PaymentFailed,
    PaymentProcessed,
    PaymentRefunded,
    ProductUpserted,
    ReservedItem,
    UnknownEventType,
    UnsupportedEventVersion,
    new_envelope,
)
from shared_events.kafka import KafkaRecord, decode, encode, header

texts = st.text(min_size=1, max_size=30)
skus = st.text(min_size=1, max_size=64)
counts = st.integers(min_value=1, max_value=2**53)
lines = st.lists(
    st.builds(OrderLine, sku=skus, quantity=counts, unit_price_cents=counts), min_size=1, max_size=4
).map(tuple)

PAYLOADS: dict[type[Event], st.SearchStrategy[Event]] = {
    OrderCreatedV1: st.builds(
        OrderCreatedV1, order_id=st.uuids(), customer_id=texts, items=lines, total_cents=counts
    ),
    OrderCreated: st.builds(
        OrderCreated,
        order_id=st.uuids(),
        customer_id=texts,
        items=lines,
        total_cents=counts,
        currency=st.from_regex(r"[A-Z]{3}", fullmatch=True),
    ),
    OrderConfirmed: st.builds(OrderConfirmed, order_id=st.uuids()),
    OrderCancelledV1: st.builds(OrderCancelledV1, order_id=st.uuids()),
    OrderCancelled: st.builds(OrderCancelled, order_id=st.uuids()),
    PaymentProcessed: st.builds(PaymentProcessed, order_id=st.uuids(), amount_cents=counts),
    PaymentFailed: st.builds(PaymentFailed, order_id=st.uuids()),
    PaymentRefunded: st.builds(PaymentRefunded, order_id=st.uuids(), amount_cents=counts),
    ItemsReserved: st.builds(
        ItemsReserved,
        order_id=st.uuids(),
        items=st.lists(st.builds(ReservedItem, sku=skus, quantity=counts), min_size=1).map(tuple),
    ),
    InventoryFailed: st.builds(
        InventoryFailed, order_id=st.uuids(), skus=st.lists(skus, min_size=1).map(tuple)
    ),
    ItemsReleased: st.builds(ItemsReleased, order_id=st.uuids()),
    ProductUpserted: st.builds(ProductUpserted, sku=skus, name=texts, price_cents=counts),
}

NEWEST = st.one_of(*(PAYLOADS[EVENT_REGISTRY.latest(t)] for t in EVENT_REGISTRY.event_types()))

moments = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2200, 1, 1),
    timezones=st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23))),
)


def envelopes(payloads: st.SearchStrategy[Event]) -> st.SearchStrategy[Envelope[Event]]:
    return st.builds(
        new_envelope,
        payloads,
        producer=st.sampled_from(["order", "payment", "inventory"]),
        correlation_id=st.none() | texts,
        causation_id=st.none() | st.uuids(),
        occurred_at=moments,
    )


def test_strategies_cover_every_registered_version() -> None:
    registered = {
        EVENT_REGISTRY.model(t, v)
        for t in EVENT_REGISTRY.event_types()
        for v in EVENT_REGISTRY.versions(t)
    }
    assert registered == set(PAYLOADS)


@settings(deadline=None)  # no timed assertions: the machine running tests is shared
@given(envelopes(NEWEST), st.none() | st.just("00-" + "a" * 32 + "-" + "b" * 16 + "-01"))
def test_every_event_round_trips_through_a_kafka_record(
    envelope: Envelope[Event], traceparent: str | None
) -> None:
    trace = [("traceparent", traceparent.encode())] if traceparent else []
    record = encode(envelope, trace=trace)
    assert record.topic == envelope.payload.topic
    assert record.key == envelope.payload.key().encode()
    assert header(record.headers, "traceparent") == traceparent
    decoded = decode(record.value, record.headers)
    assert decoded == envelope
    assert type(decoded.payload) is type(envelope.payload)


@settings(deadline=None)  # no timed assertions: the machine running tests is shared
@given(envelopes(PAYLOADS[OrderCreatedV1]))
def test_v1_order_created_decodes_as_v2_in_the_default_currency(
    envelope: Envelope[OrderCreatedV1],
) -> None:
    record = encode(envelope)
    assert header(record.headers, "event_version") == "1"
    decoded = decode(record.value, record.headers)
    assert isinstance(decoded.payload, OrderCreated)
    assert decoded.event_version == 2
    assert decoded.payload.currency == DEFAULT_CURRENCY
    assert decoded.payload.model_dump(exclude={"currency"}) == envelope.payload.model_dump()
    assert decoded.event_id == envelope.event_id


def a_record() -> KafkaRecord:
    payload = OrderConfirmed(order_id=uuid4())
    return encode(new_envelope(payload, producer="order", occurred_at=datetime.now(UTC)))


def test_record_headers_describe_the_event() -> None:
    envelope = new_envelope(ProductUpserted(sku="apple", name="Apple", price_cents=5), producer="i")
    record = encode(envelope)
    assert record.key == b"apple"
    assert dict(record.headers) == {
        "event_id": str(envelope.event_id).encode(),
        "event_type": b"ProductUpserted",
        "event_version": b"1",
        "content-type": b"application/json",
        "correlation_id": b"apple",
        "contracts_version": CONTRACTS_VERSION.encode(),
    }


def test_unknown_fields_in_a_record_are_ignored() -> None:
    record = a_record()
    data = orjson.loads(record.value)
    data["schema_registry_id"] = 42
    data["payload"]["note"] = "from a newer writer"
    decoded = decode(orjson.dumps(data), record.headers)
    assert isinstance(decoded.payload, OrderConfirmed)


def rewritten(record: KafkaRecord, **changes: Any) -> bytes:
    return orjson.dumps(orjson.loads(record.value) | changes)


@pytest.mark.parametrize(
    ("value", "headers", "error"),
    [
        (None, None, NotJson),
        (b"", None, NotJson),
        (b"{not json", None, NotJson),
        (b"[1, 2]", None, NotJson),
        (b"{}", [("content-type", b"application/avro")], NotJson),
        (b'{"event_type": "Teleported", "event_version": 1}', None, UnknownEventType),
        (b'{"event_type": "OrderConfirmed", "event_version": 7}', None, UnsupportedEventVersion),
        (b'{"event_type": "OrderConfirmed"}', None, InvalidEnvelope),
    ],
)
def test_undecodable_records_raise_typed_errors(
    value: bytes | None, headers: list[tuple[str, bytes]] | None, error: type[DecodeError]
) -> None:
    with pytest.raises(error) as raised:
        decode(value, headers)
    assert isinstance(raised.value, DecodeError)
    assert raised.value.reason == error.reason


def test_a_record_with_a_bad_payload_is_invalid_payload() -> None:
    record = a_record()
    with pytest.raises(InvalidPayload, match="order_id"):
        decode(rewritten(record, payload={"order_id": 12}), record.headers)


def test_a_record_with_a_bad_envelope_is_invalid_envelope() -> None:
    record = a_record()
    with pytest.raises(InvalidEnvelope, match="occurred_at"):
        decode(rewritten(record, occurred_at="yesterday"), record.headers)


def test_headers_contradicting_the_value_are_refused() -> None:
    record = a_record()
    headers = [(k, v) for k, v in record.headers if k != "event_type"]
    with pytest.raises(InvalidEnvelope, match="disagrees"):
        decode(record.value, [*headers, ("event_type", b"OrderCancelled")])


def test_records_without_headers_decode_from_the_value_alone() -> None:
    record = a_record()
    assert isinstance(decode(record.value).payload, OrderConfirmed)
    assert isinstance(decode(record.value, []).payload, OrderConfirmed)


def test_reasons_are_distinct() -> None:
    errors = [NotJson, InvalidEnvelope, UnknownEventType, UnsupportedEventVersion, InvalidPayload]
    assert len({error.reason for error in errors}) == len(errors)


def test_product_upserted_is_routed_to_the_catalog_topic_keyed_by_sku() -> None:
    product = ProductUpserted(sku="apple", name="Apple", price_cents=150)
    record = encode(new_envelope(product, producer="inventory"))
    assert (record.topic, record.key) == ("product-catalog", b"apple")
    # Saga events stay where they were.
    released = encode(new_envelope(ItemsReleased(order_id=uuid4()), producer="inventory"))
    assert released.topic == "inventory-events"
