"""Transactional outbox and processed-events (inbox) tables, and writing events to the outbox."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
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
    event,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from shared_events.contracts.event import Event
from shared_events.envelope import Envelope
from shared_events.kafka.codec import KafkaRecord, encode
from shared_events.kafka.tracing import trace_headers

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


def add_outbox_lease(bind: Connection, schema: str) -> None:
    """Add `leased_until` to an outbox made before it existed (each service's migration 0002).

    A no-op on a fresh database: `create_delivery_tables` (migration 0001) builds today's
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


def notify_channel(table: Table) -> str:
    """The LISTEN/NOTIFY channel on which an outbox announces new rows."""
    return f"{table.schema or 'public'}_{table.name}"


def headers_to_json(headers: Sequence[tuple[str, bytes]]) -> list[list[str]]:
    """Record headers as the JSON the outbox stores."""
    return [[name, value.decode("utf-8")] for name, value in headers]


def headers_from_json(stored: Sequence[Sequence[str]]) -> list[tuple[str, bytes]]:
    """Record headers back from the JSON the outbox stores."""
    return [(name, value.encode("utf-8")) for name, value in stored]


_STAGED = "shared_events.outbox.staged"
_HOOKED = "shared_events.outbox.hooked"


class Outbox:
    """Stages events in the caller's transaction; they are written in one statement at commit."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.channel = notify_channel(table)
        # One statement for any number of rows (arrays unnested), and with it the NOTIFY:
        # Postgres delivers it at commit and drops it on rollback, so the relay gets one
        # wake-up per transaction however many rows it staged.
        self._insert = text(
            f"WITH staged AS (INSERT INTO {_quoted(table)} (event_id, topic, key, value, headers) "
            "SELECT e, t, k, v, h::jsonb FROM unnest("
            "CAST(:event_ids AS uuid[]), CAST(:topics AS text[]), CAST(:keys AS bytea[]), "
            "CAST(:values AS bytea[]), CAST(:headers AS text[])) AS r(e, t, k, v, h)) "
            "SELECT pg_notify(:channel, '')"
        )

    def add(
        self,
        session: Session,
        envelope: Envelope[Event],
    ) -> KafkaRecord:
        """Stage one event on `session`: written with the others before the commit.

        It carries the trace context of its cause's span, or of the current one (`tracing`).
        A rollback (of a savepoint too) drops what was staged.
        """
        record = encode(envelope, trace=trace_headers(envelope.causation_id))
        if not session.info.get(_HOOKED):
            # However the transaction ends up committed, what it staged is written first.
            event.listen(session, "before_commit", write_staged)
            event.listen(session, "after_soft_rollback", _discard_staged)
            session.info[_HOOKED] = True
        staged: dict[str, tuple[Outbox, list[_Row]]] = session.info.setdefault(_STAGED, {})
        _, rows = staged.setdefault(self.channel, (self, []))
        rows.append(_Row(envelope, record))
        return record

    def _write(self, session: Session, rows: Sequence["_Row"]) -> None:
        session.execute(
            self._insert,
            {
                "event_ids": [row.envelope.event_id for row in rows],
                "topics": [row.record.topic for row in rows],
                "keys": [row.record.key for row in rows],
                "values": [row.record.value for row in rows],
                "headers": [
                    orjson.dumps(headers_to_json(row.record.headers)).decode() for row in rows
                ],
                "channel": self.channel,
            },
        )
        for row in rows:
            log.debug(
                "event staged",
                event_type=row.envelope.event_type,
                event_id=str(row.envelope.event_id),
                correlation_id=row.envelope.correlation_id,
                causation_id=str(row.envelope.causation_id) if row.envelope.causation_id else None,
                topic=row.record.topic,
            )


def write_staged(session: Session) -> int:
    """Write every event staged on `session` now (one statement per outbox: INSERT and NOTIFY).

    The commit does it anyway; returns how many rows it wrote.
    """
    staged: dict[str, tuple[Outbox, list[_Row]]] = session.info.pop(_STAGED, {})
    for outbox, rows in staged.values():
        outbox._write(session, rows)
    return sum(len(rows) for _, rows in staged.values())


def _discard_staged(session: Session, _previous: object) -> None:
    session.info.pop(_STAGED, None)


@dataclass(frozen=True, slots=True)
class _Row:
    envelope: Envelope[Event]
    record: KafkaRecord


def _quoted(table: Table) -> str:
    name = f'"{table.name}"'
    return f'"{table.schema}".{name}' if table.schema else name
