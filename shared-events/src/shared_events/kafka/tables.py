"""The tables every service's schema holds for delivery: the outbox and the inbox.

The outbox holds encoded records waiting for the relay (`publishing`); the inbox
(`processed_events`) which consumer already applied which event (`consuming.inbox`). Each
service's migration 0001 creates both (`create_event_tables`), 0002 adds the outbox lease.
"""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

OUTBOX_TABLE = "outbox"
PROCESSED_EVENTS_TABLE = "processed_events"


def outbox_table(metadata: MetaData, schema: str) -> Table:
    """The outbox of one service: encoded records waiting for the relay, in `id` order."""
    return Table(
        OUTBOX_TABLE,
        metadata,
        # The identity defines publication order; per-key order follows it.
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("topic", Text, nullable=False),
        Column("key", LargeBinary, nullable=False),
        Column("value", LargeBinary, nullable=False),
        # [[name, value-as-text], ...]: every header of ours is text.
        Column("headers", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", DateTime(timezone=True), nullable=True),
        outbox_lease_column(),
        # Keeps the relay's claim query an index scan however many sent rows are retained.
        Index(
            f"ix_{OUTBOX_TABLE}_unsent",
            "id",
            postgresql_where=text("sent_at IS NULL"),
        ),
        schema=schema,
    )


def outbox_lease_column() -> Column[datetime]:
    """`leased_until`: a relay claimed the row and publishes it; others skip it until then.

    Added to existing outboxes by each service's migration 0002 (`add_outbox_lease`).
    """
    return Column("leased_until", DateTime(timezone=True), nullable=True)


def processed_events_table(metadata: MetaData, schema: str) -> Table:
    """The inbox of one service: which consumer already applied which event."""
    return Table(
        PROCESSED_EVENTS_TABLE,
        metadata,
        Column("consumer", Text, nullable=False),
        Column("event_id", Uuid, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id", name=f"pk_{PROCESSED_EVENTS_TABLE}"),
        schema=schema,
    )


def event_tables(schema: str, metadata: MetaData | None = None) -> tuple[Table, Table]:
    """The outbox and processed-events tables of a schema, on `metadata` (or a fresh one)."""
    metadata = metadata if metadata is not None else MetaData()
    return outbox_table(metadata, schema), processed_events_table(metadata, schema)


def create_event_tables(bind: Connection, schema: str) -> None:
    """Create the outbox and processed-events tables in `schema` (e.g. `op.get_bind()`)."""
    for table in event_tables(schema):
        table.create(bind)


def drop_event_tables(bind: Connection, schema: str) -> None:
    """Drop what `create_event_tables` created (an Alembic downgrade)."""
    for table in reversed(event_tables(schema)):
        table.drop(bind)


def add_outbox_lease(bind: Connection, schema: str) -> None:
    """Add `leased_until` to an outbox made before it existed (each service's migration 0002).

    A no-op on a fresh database: `create_event_tables` (migration 0001) builds today's
    outbox, lease included.
    """
    column = outbox_lease_column()
    bind.execute(
        text(
            f'ALTER TABLE "{schema}".{OUTBOX_TABLE} '
            f"ADD COLUMN IF NOT EXISTS {column.name} timestamptz NULL"
        )
    )


def drop_outbox_lease(bind: Connection, schema: str) -> None:
    """Undo `add_outbox_lease` (an Alembic downgrade)."""
    column = outbox_lease_column()
    bind.execute(text(f'ALTER TABLE "{schema}".{OUTBOX_TABLE} DROP COLUMN IF EXISTS {column.name}'))
