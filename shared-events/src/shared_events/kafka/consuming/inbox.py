"""Applying events at most once per consumer: the processed-event rows commit with their effects.

A batch is applied in one transaction: one statement records every event of the batch in the
inbox and returns the ones not seen before; the handlers apply those, in per-key order, one
call per event type and wave; one statement writes the outbox rows they staged.

Replayable event types skip the inbox: their handlers are idempotent by themselves (a latest-
state upsert that an older or repeated record never changes), so they apply every copy they
are given. Re-reading a compacted topic from its start (a catalog rebuild) then applies it all
again, where the inbox would skip every event it had seen.
"""

import time
from collections.abc import Callable, Collection, Mapping, MutableMapping, Sequence
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import ARRAY, Table, Text, Uuid, bindparam, func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from shared_events.contracts.event import Event
from shared_events.envelope import Envelope
from shared_events.kafka.publishing.outbox import write_staged

BatchHandler = Callable[[Sequence[Envelope[Any]], Session], None]
"""Applies events of one type, each of a different key, on the session it is given.

Writes domain rows and stages outbox events; never commits. Raising rolls back the whole
batch, which the consumer then applies one event at a time to isolate the culprit.
"""

U = TypeVar("U")


def riding(
    unit_of_work: Callable[[Session, Sequence[Envelope[Event]]], U],
    handlers: Mapping[str, Callable[[Sequence[Envelope[Any]], U], object]],
) -> dict[str, BatchHandler]:
    """The consumer's handlers: each set-based handler gets a unit of work on the batch's
    session, told which consumed events its new events follow."""

    def bind(handler: Callable[[Sequence[Envelope[Any]], U], object]) -> BatchHandler:
        def handle(envelopes: Sequence[Envelope[Any]], session: Session) -> None:
            handler(envelopes, unit_of_work(session, envelopes))

        handle.__name__ = getattr(handler, "__name__", "handle")
        return handle

    return {event_type: bind(handler) for event_type, handler in handlers.items()}


def claim_new(
    session: Session, processed_table: Table, consumer: str, envelopes: Sequence[Envelope[Event]]
) -> list[Envelope[Event]]:
    """Record the events as processed by `consumer`; return those not recorded before, in order.

    A second copy of one event within `envelopes` counts as already processed.
    """
    if not envelopes:
        return []
    ids = list(dict.fromkeys(envelope.event_id for envelope in envelopes))
    claimed: set[UUID] = set(
        session.scalars(
            insert(processed_table)
            .from_select(
                ["consumer", "event_id"],
                select(
                    literal(consumer, Text),
                    func.unnest(bindparam("event_ids", ids, type_=ARRAY(Uuid))),
                ),
            )
            .on_conflict_do_nothing()
            .returning(processed_table.c.event_id)
        )
    )
    fresh: list[Envelope[Event]] = []
    for envelope in envelopes:
        if envelope.event_id in claimed:
            claimed.discard(envelope.event_id)  # a later copy in the same batch is a duplicate
            fresh.append(envelope)
    return fresh


def waves(
    envelopes: Sequence[Envelope[Event]], key: Callable[[Envelope[Event]], object]
) -> list[dict[str, list[Envelope[Event]]]]:
    """Split events into waves of distinct keys, each grouped by event type.

    The n-th event of a key goes to wave n, so applying the waves in turn keeps every key's
    events in order, while one wave's events of a type can go to their handler together.
    """
    seen: dict[object, int] = {}
    result: list[dict[str, list[Envelope[Event]]]] = []
    for envelope in envelopes:
        k = key(envelope)
        wave = seen.get(k, 0)
        seen[k] = wave + 1
        if wave == len(result):
            result.append({})
        result[wave].setdefault(envelope.event_type, []).append(envelope)
    return result


def apply_batch(
    session_factory: sessionmaker[Session],
    processed_table: Table,
    consumer: str,
    envelopes: Sequence[Envelope[Event]],
    handlers: Mapping[str, BatchHandler],
    key: Callable[[Envelope[Event]], object] = lambda envelope: envelope.correlation_id,
    seconds_by_type: MutableMapping[str, float] | None = None,
    replayable: Collection[str] = (),
) -> list[Envelope[Event]]:
    """Apply the events not processed before, in one transaction; return the ones applied.

    Every event needs a handler in `handlers`. Any error rolls the whole batch back.
    `seconds_by_type`, when given, gains the time each event type's handler calls took.
    Events of a `replayable` type are never recorded in the inbox and always applied.
    """
    timings = {} if seconds_by_type is None else seconds_by_type
    with session_factory() as session, session.begin():
        recorded = [e for e in envelopes if e.event_type not in replayable]
        fresh = claim_new(session, processed_table, consumer, recorded)
        if len(recorded) < len(envelopes):
            claimed = {id(envelope) for envelope in fresh}
            fresh = [e for e in envelopes if e.event_type in replayable or id(e) in claimed]
        for wave in waves(fresh, key):
            for event_type, group in wave.items():
                began = time.perf_counter()
                handlers[event_type](group, session)
                timings[event_type] = timings.get(event_type, 0.0) + time.perf_counter() - began
        write_staged(session)
    return fresh


def apply_once(
    session_factory: sessionmaker[Session],
    processed_table: Table,
    consumer: str,
    envelope: Envelope[Event],
    handlers: Mapping[str, BatchHandler],
    replayable: Collection[str] = (),
) -> bool:
    """Apply one event in its own transaction; False if it was already processed."""
    applied = apply_batch(
        session_factory, processed_table, consumer, [envelope], handlers, replayable=replayable
    )
    return bool(applied)
