"""What each fetched record becomes before anything touches the database."""

from dataclasses import dataclass
from typing import Any

from shared_events.envelope import Envelope
from shared_events.errors import DecodeError
from shared_events.kafka.codec import decode
from shared_events.kafka.consuming.records import ConsumedRecord
from shared_events.kafka.dead_letters.writer import UNDECODABLE, UNREADABLE_RECORD
from shared_events.registry import EventRegistry


@dataclass(frozen=True, slots=True)
class Intake:
    """One record of a batch: an event to apply, an event to skip, or poison to dead-letter."""

    record: ConsumedRecord
    envelope: Envelope[Any] | None = None
    applies: bool = False
    poison: tuple[str, str] | None = None
    """(dead-letter reason, error) when the record cannot be used."""

    @property
    def partition(self) -> tuple[str, int]:
        return (self.record.topic, self.record.partition)


def take_in(
    record: ConsumedRecord,
    unreadable: Exception | None,
    registry: EventRegistry,
    handled_types: set[str] | frozenset[str],
) -> Intake:
    """Decode a record and say what the consumer must do with it."""
    if unreadable is not None:
        # E.g. a header name that is not UTF-8: poison, not a reason to stop consuming.
        return Intake(record, poison=(UNREADABLE_RECORD, describe(unreadable)))
    try:
        envelope = decode(record.value, record.headers, registry=registry)
    except DecodeError as error:
        return Intake(record, poison=(error.reason, str(error)))
    except Exception as error:
        # A decoder bug on odd input must not kill the loop (and with it every partition).
        return Intake(record, poison=(UNDECODABLE, describe(error)))
    return Intake(record, envelope, applies=envelope.event_type in handled_types)


def describe(error: BaseException) -> str:
    """An error as `Type: message`."""
    return f"{type(error).__name__}: {error}"
