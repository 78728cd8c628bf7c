"""Transactional outbox and processed-events (inbox) tables, and writing events to the outbox."""

from collections.abc import Sequence

import structlog
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
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from shared_events.contracts.event import Event
from shared_events.envelope import Envelope
from shared_events.kafka.codec import KafkaRecord, encode

log = structlog.get_logger(__name__)

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
        # Keeps the relay's claim query an index scan however many sent rows are retained.
        Index(
            f"ix_{OUTBOX_TABLE}_unsent",
            "id",
            postgresql_where=text("sent_at IS NULL"),
        ),
        schema=schema,
    )


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


def delivery_tables(schema: str, metadata: MetaData | None = None) -> tuple[Table, Table]:
    """The outbox and processed-events tables of a schema, on `metadata` (or a fresh one)."""
    metadata = metadata if metadata is not None else MetaData()
    return outbox_table(metadata, schema), processed_events_table(metadata, schema)


def create_delivery_tables(bind: Connection, schema: str) -> None:
    """Create the outbox and processed-events tables in `schema` (e.g. `op.get_bind()`)."""
    for table in delivery_tables(schema):
        table.create(bind)


def drop_delivery_tables(bind: Connection, schema: str) -> None:
    """Drop what `create_delivery_tables` created (an Alembic downgrade)."""
    for table in reversed(delivery_tables(schema)):
        table.drop(bind)


def notify_channel(table: Table) -> str:
    """The LISTEN/NOTIFY channel on which an outbox announces new rows."""
    return f"{table.schema or 'public'}_{table.name}"


def headers_to_json(headers: Sequence[tuple[str, bytes]]) -> list[list[str]]:
    """Record headers as the JSON the outbox stores."""
    return [[name, value.decode("utf-8")] for name, value in headers]


def headers_from_json(stored: Sequence[Sequence[str]]) -> list[tuple[str, bytes]]:
    """Record headers back from the JSON the outbox stores."""
    return [(name, value.encode("utf-8")) for name, value in stored]


class Outbox:
    """Writes events to an outbox table inside the caller's unit of work."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.channel = notify_channel(table)

    def add(
        self,
        session: Session,
        envelope: Envelope[Event],
        *,
        traceparent: str | None = None,
    ) -> KafkaRecord:
        """Stage one event in the caller's transaction; it is published only if that commits."""
        record = encode(envelope, traceparent=traceparent)
        session.execute(
            insert(self.table).values(
                event_id=envelope.event_id,
                topic=record.topic,
                key=record.key,
                value=record.value,
                headers=headers_to_json(record.headers),
            )
        )
        # Postgres delivers notifications at commit and drops them on rollback, and
        # folds identical ones within a transaction: one wake-up per unit of work.
        session.execute(select(func.pg_notify(self.channel, "")))
        # Its own fields win over those the consumer bound for the event that caused it.
        log.info(
            "event staged",
            event_type=envelope.event_type,
            event_id=str(envelope.event_id),
            correlation_id=envelope.correlation_id,
            causation_id=str(envelope.causation_id) if envelope.causation_id else None,
            topic=record.topic,
        )
        return record
