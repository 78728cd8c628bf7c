"""The contract's topology (shared_events.topology) describes this service's consumer."""

from payment_service import SERVICE
from payment_service.consumer import HANDLERS, TOPICS
from shared_events.topology import service


def test_the_consumer_reads_and_applies_what_the_contract_says() -> None:
    declared = service(SERVICE)
    assert sorted(TOPICS) == sorted(declared.handles)
    assert sorted(HANDLERS) == sorted(t for types in declared.handles.values() for t in types)
