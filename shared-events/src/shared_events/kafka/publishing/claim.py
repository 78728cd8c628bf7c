"""The relay's SQL: lease a batch of unsent outbox rows in per-key order, mark them sent.

A claim is a short transaction that stamps `leased_until` on the rows it will publish and
commits before anything is produced; the relay then produces and flushes with no
transaction open, and a second short transaction marks the acked rows sent (and lifts the
lease of the rest). Another relay skips leased rows, and holds back later rows of their
keys, until the lease ends: so a relay that died mid-round delays its rows by at most the
lease, and one that was merely slow only duplicates them (consumers dedupe by event id).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Table, and_, any_, delete, func, or_, select, tuple_, update
from sqlalchemy.engine import Connection

from shared_events.kafka.publishing.outbox import headers_from_json
from shared_events.kafka.rows import array

OrderingKey = tuple[str, bytes]
"""(topic, key): order is kept per partition, and one key always lands on one partition."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One claimed outbox row, ready to produce."""

    id: int
    event_id: UUID
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    created_at: datetime | None = None

    @property
    def ordering_key(self) -> OrderingKey:
        """What this row must stay in order with."""
        return (self.topic, self.key)


def in_key_order(rows: Sequence[OutboxRow], blockers: Mapping[OrderingKey, int]) -> list[OutboxRow]:
    """Rows that may be published now: none whose key has an earlier unsent row elsewhere.

    `blockers` maps an ordering key to the lowest id of an unsent row with that key that
    is NOT in `rows` (another relay holds it, or it did not fit in the batch).
    """
    return sorted(
        (row for row in rows if row.id < blockers.get(row.ordering_key, row.id + 1)),
        key=lambda row: row.id,
    )


def claim_batch(
    conn: Connection, table: Table, limit: int, lease: timedelta
) -> tuple[list[OutboxRow], int]:
    """Lease up to `limit` unsent, unleased rows in per-key order; commit `conn` right after.

    Returns the rows to publish in id order and how many claimed rows were held back (an
    earlier row of their key is leased or locked by another relay, or did not fit). Row
    locks (SKIP LOCKED) keep two concurrent claims apart until `conn`'s transaction ends;
    the lease they stamp keeps the rows apart after it.
    """
    claimed = [
        OutboxRow(
            id=r.id,
            event_id=r.event_id,
            topic=r.topic,
            key=r.key,
            value=r.value,
            headers=headers_from_json(r.headers),
            created_at=r.created_at,
        )
        for r in conn.execute(
            select(table.c.id, table.c.event_id, table.c.topic, table.c.key)
            .add_columns(table.c.value, table.c.headers, table.c.created_at)
            .where(
                table.c.sent_at.is_(None),
                or_(table.c.leased_until.is_(None), table.c.leased_until < func.now()),
            )
            .order_by(table.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ]
    if not claimed:
        return [], 0
    publishable = in_key_order(claimed, _blockers(conn, table, claimed))
    _set_lease(conn, table, [row.id for row in publishable], func.now() + lease)
    return publishable, len(claimed) - len(publishable)


def _blockers(conn: Connection, table: Table, rows: Iterable[OutboxRow]) -> dict[OrderingKey, int]:
    rows = list(rows)
    keys = {row.ordering_key for row in rows}
    # A plain read sees rows other relays have leased or locked (still unsent for us):
    # exactly the ones that must go out first.
    query = (
        select(table.c.topic, table.c.key, func.min(table.c.id))
        .where(
            and_(
                table.c.sent_at.is_(None),
                tuple_(table.c.topic, table.c.key).in_(sorted(keys)),
                table.c.id.not_in([row.id for row in rows]),
            )
        )
        .group_by(table.c.topic, table.c.key)
    )
    return {(topic, key): lowest for topic, key, lowest in conn.execute(query)}


def mark_sent(conn: Connection, table: Table, ids: Sequence[int]) -> int:
    """Stamp `sent_at` on rows whose delivery the broker acknowledged (ending their lease)."""
    if not ids:
        return 0
    result = conn.execute(
        update(table)
        .where(table.c.id == any_(array(ids, BigInteger())))
        .values(sent_at=func.now(), leased_until=None)
    )
    return int(result.rowcount)


def release(conn: Connection, table: Table, ids: Sequence[int]) -> None:
    """End the lease of rows that were not delivered, so the next round retries them."""
    _set_lease(conn, table, ids, None)


def _set_lease(conn: Connection, table: Table, ids: Sequence[int], until: Any) -> None:
    if ids:
        conn.execute(
            update(table)
            .where(table.c.id == any_(array(ids, BigInteger())), table.c.sent_at.is_(None))
            .values(leased_until=until)
        )


def prune_sent(conn: Connection, table: Table, older_than: timedelta) -> int:
    """Delete rows sent more than `older_than` ago; unsent rows are never touched."""
    result = conn.execute(
        delete(table).where(
            and_(table.c.sent_at.is_not(None), table.c.sent_at < func.now() - older_than)
        )
    )
    return int(result.rowcount)


def backlog(conn: Connection, table: Table) -> tuple[int, float]:
    """Unsent rows, and the age in seconds of the oldest (0 when there is none)."""
    age = func.extract("epoch", func.now() - func.min(table.c.created_at))
    count, oldest = conn.execute(
        select(func.count(), func.coalesce(age, 0)).where(table.c.sent_at.is_(None))
    ).one()
    return int(count), max(0.0, float(oldest))
