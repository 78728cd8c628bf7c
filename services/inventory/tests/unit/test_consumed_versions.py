"""Consumer-side contract: inventory's handlers accept every committed version of every event
it consumes (payloads generated from the committed JSON Schemas the contracts wheel ships).

A record of any published version may still be on a topic, or come from a producer that is
not upgraded yet: an old version's upcaster removed too early, or a handler that no longer
reads an old shape, fails here.
"""

from typing import Any

import pytest

from inventory_service import SERVICE
from inventory_service.consumer import DISPATCH
from shared_events import Envelope, Event
from shared_events.testing.examples import (
    CommittedVersion,
    accepts_every_example,
    consumed_versions,
)


@pytest.mark.parametrize("version", consumed_versions(SERVICE), ids=str)
def test_handlers_accept_every_committed_version(version: CommittedVersion, new_uow: Any) -> None:
    def apply(envelope: Envelope[Event]) -> None:
        DISPATCH[envelope.event_type]([envelope], new_uow())

    accepts_every_example(version, apply)


def test_every_consumed_type_has_a_committed_version_and_a_handler() -> None:
    assert {v.event_type for v in consumed_versions(SERVICE)} == set(DISPATCH)
