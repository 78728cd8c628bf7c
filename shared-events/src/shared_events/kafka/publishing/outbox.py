"""Writing events to the transactional outbox: staged on the session, written in one statement."""

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import structlog
from sqlalchemy import (
    Table,
    event,
    text,
)
from sqlalchemy.orm import Session

from shared_events.contracts.event import Event
from shared_events.envelope import Envelope
from shared_events.kafka.codec import KafkaRecord, encode
from shared_events.kafka.tracing import trace_headers

log = structlog.get_logger(__name__)


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
