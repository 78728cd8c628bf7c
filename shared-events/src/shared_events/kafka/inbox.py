"""Applying an event at most once per consumer: the processed-event row commits with its effects."""

from collections.abc import Callable

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from shared_events.contracts.event import Event
from shared_events.envelope import Envelope

Handler = Callable[[Envelope[Event], Session], None]
"""Applies one event: domain and outbox writes on the session it is given, never a commit."""


def apply_once(
    session_factory: sessionmaker[Session],
    processed_table: Table,
    consumer: str,
    envelope: Envelope[Event],
    handler: Handler,
) -> bool:
    """Run `handler` and record the event in one transaction; False if already processed."""
    with session_factory() as session, session.begin():
        claimed = session.execute(
            insert(processed_table)
            .values(consumer=consumer, event_id=envelope.event_id)
            .on_conflict_do_nothing()
            .returning(processed_table.c.event_id)
        ).first()
        if claimed is None:
            return False
        handler(envelope, session)
    return True
