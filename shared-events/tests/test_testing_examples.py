"""shared_events.testing.examples: committed versions, and payloads valid against them."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from shared_events import EVENT_REGISTRY
from shared_events.errors import DecodeError
from shared_events.kafka import decode
from shared_events.registry import EventRegistry
from shared_events.schemas.files import SCHEMAS_DIR
from shared_events.testing.examples import (
    CommittedVersion,
    UnsupportedSchema,
    committed_versions,
    consumed_versions,
    payloads,
    record_value,
)
from shared_events.topology import SERVICES

COMMITTED = committed_versions()


def test_every_committed_schema_file_is_listed() -> None:
    files = sorted(SCHEMAS_DIR.glob("*/v*.json"))
    assert [f"{f.parent.name}-{f.stem}" for f in files] == sorted(str(v) for v in COMMITTED)
    assert {(v.event_type, v.version) for v in COMMITTED} == {
        (t, n) for t in EVENT_REGISTRY.event_types() for n in EVENT_REGISTRY.versions(t)
    }


@pytest.mark.parametrize("service", [s.name for s in SERVICES])
def test_consumed_versions_are_every_version_of_every_handled_type(service: str) -> None:
    (saga_service,) = (s for s in SERVICES if s.name == service)
    handled = {t for types in saga_service.handles.values() for t in types}
    found = consumed_versions(service)
    assert {v.event_type for v in found} == handled
    for event_type in handled:
        versions = [v.version for v in found if v.event_type == event_type]
        assert versions == EVENT_REGISTRY.versions(event_type)


@pytest.mark.parametrize("version", COMMITTED, ids=str)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_generated_payloads_are_valid_and_decode_to_the_newest_version(
    version: CommittedVersion, data: st.DataObject
) -> None:
    payload = data.draw(payloads(version.schema))
    Draft202012Validator(dict(version.schema)).validate(payload)
    envelope = decode(record_value(version, payload))
    assert (envelope.event_type, envelope.event_version) == (
        version.event_type,
        EVENT_REGISTRY.latest(version.event_type).event_version,
    )


def test_a_keyword_outside_the_subset_is_refused() -> None:
    with pytest.raises(UnsupportedSchema, match="oneOf"):
        payloads({"type": "object", "properties": {"x": {"oneOf": [{"type": "string"}]}}})
    with pytest.raises(UnsupportedSchema, match="email"):
        payloads({"type": "string", "format": "email"})


def test_an_old_version_without_its_upcaster_no_longer_decodes() -> None:
    """What the services' contract tests rely on: v1 decodes only through its upcaster."""
    (v1,) = [v for v in COMMITTED if (v.event_type, v.version) == ("OrderCreated", 1)]
    example = {
        "order_id": "6b1f0d4e-8d9e-4a53-9d0f-3f5b0c7f4a11",
        "customer_id": "c-1",
        "items": [{"sku": "s", "quantity": 1, "unit_price_cents": 5}],
        "total_cents": 5,
    }
    assert decode(record_value(v1, example)).payload.currency  # type: ignore[attr-defined]
    models = [
        EVENT_REGISTRY.model(t, n)
        for t in EVENT_REGISTRY.event_types()
        for n in EVENT_REGISTRY.versions(t)
    ]
    without = EventRegistry(models=models, upcasters={})
    with pytest.raises(DecodeError):
        decode(record_value(v1, example), registry=without)
