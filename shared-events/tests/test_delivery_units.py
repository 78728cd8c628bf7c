"""Unit tests of the delivery machinery's pure parts: ordering, backoff, failure triage."""

import random
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
import structlog
from confluent_kafka import KafkaError, KafkaException
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateIndex, CreateTable
from structlog.testing import capture_logs

from shared_events import ItemsReleased, OrderCancelled, follow_up, new_envelope
from shared_events.kafka.consuming.backoff import Backoff, delay_for
from shared_events.kafka.consuming.consumer import EventConsumer
from shared_events.kafka.consuming.failures import Failure, classify
from shared_events.kafka.consuming.records import ConsumedRecord
from shared_events.kafka.consuming.retries import Retries, RetryLater
from shared_events.kafka.dead_letters.writer import DeadLetterQueue, dead_letter_headers
from shared_events.kafka.publishing.claim import OutboxRow, in_key_order
from shared_events.kafka.publishing.outbox import (
    Outbox,
    headers_from_json,
    headers_to_json,
    notify_channel,
    write_staged,
)
from shared_events.kafka.publishing.producer import (
    OutgoingRecord,
    produce_and_flush,
    producer_config,
)
from shared_events.kafka.tables import event_tables


def row(id_: int, key: bytes, topic: str = "t") -> OutboxRow:
    return OutboxRow(id=id_, event_id=uuid.uuid4(), topic=topic, key=key, value=b"{}", headers=[])


def test_rows_behind_an_unsent_row_held_elsewhere_wait() -> None:
    rows = [row(3, b"a"), row(1, b"b"), row(5, b"a"), row(6, b"c")]
    # id 4 ("a") is held by another relay: 3 goes, 5 waits; "b" and "c" are free.
    assert [r.id for r in in_key_order(rows, {("t", b"a"): 4})] == [1, 3, 6]


def test_the_same_key_on_another_topic_does_not_block() -> None:
    rows = [row(5, b"a", topic="x")]
    assert [r.id for r in in_key_order(rows, {("y", b"a"): 1})] == [5]


@settings(deadline=None)  # no timed assertions: the machine running tests is shared
@given(
    keys=st.lists(st.sampled_from([b"a", b"b", b"c"]), min_size=1, max_size=30),
    taken=st.data(),
)
def test_what_is_kept_is_a_per_key_prefix_of_the_unsent_rows(keys, taken) -> None:
    unsent = [row(i, key) for i, key in enumerate(keys, start=1)]
    batch = taken.draw(st.lists(st.sampled_from(unsent), unique_by=lambda r: r.id))
    outside = [r for r in unsent if r not in batch]
    blockers: dict[tuple[str, bytes], int] = {}
    for r in outside:
        blockers.setdefault(r.ordering_key, r.id)
    kept = in_key_order(batch, blockers)
    for key in {r.key for r in unsent}:
        of_key = [r.id for r in unsent if r.key == key]
        kept_of_key = [r.id for r in kept if r.key == key]
        assert kept_of_key == of_key[: len(kept_of_key)]
    assert [r.id for r in kept] == sorted(r.id for r in kept)


def test_backoff_ceilings_double_up_to_the_cap_and_reset() -> None:
    backoff = Backoff(initial_s=0.1, max_s=0.5, jitter=0.0)
    assert [backoff.next_delay() for _ in range(5)] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])
    backoff.reset()
    assert backoff.next_delay() == pytest.approx(0.1)
    assert delay_for(10_000, 1.0, 30.0) == 30.0


class _Draws(random.Random):
    """A random source that returns the given values in turn."""

    def __init__(self, *values: float) -> None:
        super().__init__(0)
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    backoff = Backoff(initial_s=1.0, max_s=4.0, rng=_Draws(0.0, 0.5, 0.999999, 0.25))

    delays = [backoff.next_delay() for _ in range(4)]

    # Ceilings 1, 2, 4, 4 (capped); a draw of 0 waits the whole ceiling, one near 1 almost none.
    assert delays == pytest.approx([1.0, 1.0, 0.000004, 3.0])


def test_partial_jitter_keeps_the_bottom_of_each_ceiling() -> None:
    backoff = Backoff(initial_s=1.0, max_s=8.0, jitter=0.25, rng=_Draws(0.999999, 0.0))

    assert [backoff.next_delay(), backoff.next_delay()] == pytest.approx([0.75, 2.0])


@settings(deadline=None)  # no timed assertions: the machine running tests is shared
@given(
    seed=st.integers(),
    initial_s=st.floats(0.001, 10.0),
    max_s=st.floats(0.001, 100.0),
    factor=st.floats(1.0, 10.0),
    jitter=st.floats(0.0, 1.0),
)
def test_jittered_delays_stay_within_their_ceiling_and_the_cap(
    seed: int, initial_s: float, max_s: float, factor: float, jitter: float
) -> None:
    backoff = Backoff(initial_s, max_s, factor, jitter, rng=random.Random(seed))

    for attempt in range(1, 80):
        ceiling = delay_for(attempt, initial_s, max_s, factor)
        delay = backoff.next_delay()
        assert ceiling * (1 - jitter) <= delay <= ceiling <= max_s
        assert delay > 0


def test_jittered_delays_vary_and_a_seed_repeats_them() -> None:
    def delays(seed: int) -> list[float]:
        backoff = Backoff(initial_s=1.0, max_s=1.0, rng=random.Random(seed))
        return [backoff.next_delay() for _ in range(200)]

    drawn = delays(7)

    assert len(set(drawn)) == len(drawn)
    assert min(drawn) < 0.1 and max(drawn) > 0.9  # all of (0, 1], not a narrow band
    assert delays(7) == drawn
    assert delays(8) != drawn


def test_two_backoffs_do_not_draw_the_same_delays_unless_seeded_alike() -> None:
    first, second = Backoff(initial_s=1.0), Backoff(initial_s=1.0)

    assert [first.next_delay() for _ in range(5)] != [second.next_delay() for _ in range(5)]


@pytest.mark.parametrize("jitter", [-0.1, 1.5])
def test_jitter_outside_zero_to_one_is_refused(jitter: float) -> None:
    with pytest.raises(ValueError, match="jitter"):
        Backoff(jitter=jitter)


def test_a_failing_handler_is_retried_after_a_jittered_delay() -> None:
    backoff = Backoff(initial_s=1.0, max_s=10.0, rng=_Draws(0.5, 0.5, 0.0))
    retries = Retries(
        DeadLetterQueue("t.dlq", "c", "127.0.0.1:1"),  # not reached before the last attempt
        max_attempts=5,
        retry_backoff=backoff,
        outage_backoff=Backoff(),
    )
    record = ConsumedRecord("t", 0, 7, None, b"{}", [])

    waits = []
    for _ in range(3):
        with pytest.raises(RetryLater) as retry:
            retries.failed(record, ValueError("bug"), {})
        waits.append(retry.value.delay_s)

    assert waits == pytest.approx([0.5, 1.0, 4.0])


def _wrapped(orig: Exception, cls: type = OperationalError) -> Exception:
    return cls("SELECT 1", {}, orig)


class _Conflict(psycopg.errors.SerializationFailure):
    pass


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_wrapped(psycopg.OperationalError("connection refused")), Failure.DATABASE_UNAVAILABLE),
        (_wrapped(psycopg.InterfaceError("closed"), InterfaceError), Failure.DATABASE_UNAVAILABLE),
        (psycopg.OperationalError("server closed the connection"), Failure.DATABASE_UNAVAILABLE),
        (_wrapped(psycopg.errors.SerializationFailure()), Failure.CONFLICT),
        (_wrapped(psycopg.errors.DeadlockDetected()), Failure.CONFLICT),
        (_wrapped(psycopg.errors.QueryCanceled()), Failure.HANDLER_FAILED),
        (_wrapped(psycopg.errors.UniqueViolation(), IntegrityError), Failure.HANDLER_FAILED),
        (ValueError("bug"), Failure.HANDLER_FAILED),
    ],
)
def test_failures_are_told_apart(error: Exception, expected: Failure) -> None:
    assert classify(error) is expected


def test_dead_letter_headers_keep_the_originals_and_say_why() -> None:
    record = ConsumedRecord("orders", 2, 41, b"k", b"v", [("event_type", b"OrderCreated")])
    headers = dict(
        dead_letter_headers(
            record,
            reason="handler_failed",
            error="x" * 5000,
            consumer="payment-service",
            failed_at=datetime(2024, 1, 1, tzinfo=UTC),
        )
    )
    assert headers["event_type"] == b"OrderCreated"
    assert headers["dlq.reason"] == b"handler_failed"
    assert len(headers["dlq.error"]) == 2000
    assert (headers["dlq.original_topic"], headers["dlq.original_partition"]) == (b"orders", b"2")
    assert headers["dlq.original_offset"] == b"41"
    assert headers["dlq.consumer"] == b"payment-service"
    assert headers["dlq.failed_at"] == b"2024-01-01T00:00:00+00:00"


def test_delivery_tables_live_in_the_service_schema() -> None:
    outbox, processed = event_tables("payments", MetaData())
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    ddl = str(CreateTable(outbox).compile(dialect=dialect))
    assert "CREATE TABLE payments.outbox" in ddl
    assert "GENERATED ALWAYS AS IDENTITY" in ddl
    [index] = outbox.indexes
    assert "WHERE sent_at IS NULL" in str(CreateIndex(index).compile(dialect=dialect))
    assert [c.name for c in processed.primary_key] == ["consumer", "event_id"]
    assert notify_channel(outbox) == "payments_outbox"


def test_headers_round_trip_through_json() -> None:
    headers = [("event_type", b"OrderCreated"), ("traceparent", b"00-abc-def-01")]
    assert headers_from_json(headers_to_json(headers)) == headers


class _RefusesFirst:
    """A producer stand-in that refuses the first record up front and acks the rest."""

    def __init__(self) -> None:
        self.sent: list[bytes | None] = []

    def produce(self, topic: str, **record: Any) -> None:
        if not self.sent and record["value"] == b"first":
            self.sent.append(None)
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "too large"))
        self.sent.append(record["value"])
        record["on_delivery"](None, _Acked(topic))

    def poll(self, _timeout: float) -> int:
        return 0

    def flush(self, _timeout: float) -> int:
        return 0


class _Acked:
    def __init__(self, topic: str) -> None:
        self._topic = topic

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 0


def test_a_refused_record_holds_back_later_records_of_its_key_only() -> None:
    producer = _RefusesFirst()
    records = [
        OutgoingRecord(1, "t", b"k", b"first", []),
        OutgoingRecord(2, "t", b"k", b"second", []),
        OutgoingRecord(3, "t", b"other", b"third", []),
    ]

    outcome = produce_and_flush(producer, records, timeout_s=1.0)  # type: ignore[arg-type]

    assert producer.sent == [None, b"third"]
    assert outcome.delivered == [3]
    assert set(outcome.failed) == {1, 2}
    assert outcome.codes[1] == KafkaError.MSG_SIZE_TOO_LARGE


def test_the_producer_is_idempotent_acks_all_and_gapless() -> None:
    config = producer_config("127.0.0.1:1")

    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"
    assert config["enable.gapless.guarantee"] is True


def test_the_consumer_commits_only_what_it_stored_after_processing() -> None:
    consumer = EventConsumer(
        bootstrap_servers="127.0.0.1:1",
        group_id="g",
        topics=["t"],
        handlers={},
        session_factory=None,  # type: ignore[arg-type]
        processed_table=event_tables("s", MetaData())[1],
        dead_letter_topic="g.dlq",
    )

    assert consumer._config["enable.auto.commit"] is False
    assert consumer._config["enable.auto.offset.store"] is False


class _Session(Session):
    """Counts the statements it is given instead of running them."""

    statements = 0

    def execute(self, *_args: object, **_kwargs: object) -> None:  # type: ignore[override]
        self.statements += 1


def test_staged_events_are_written_in_one_statement_and_logged_with_their_own_ids() -> None:
    table = event_tables("s", MetaData())[0]
    cause = new_envelope(
        OrderCancelled(order_id=uuid.uuid4(), reason="payment_failed"), producer="t"
    )
    staged = follow_up(cause, ItemsReleased(order_id=cause.payload.order_id), producer="t")
    session = _Session()

    with structlog.contextvars.bound_contextvars(event_type="OrderCancelled"):
        with capture_logs() as lines:
            outbox = Outbox(table)
            outbox.add(session, staged)
            outbox.add(
                session, follow_up(cause, ItemsReleased(order_id=uuid.uuid4()), producer="t")
            )
            assert session.statements == 0  # staged until the commit (or write_staged)
            assert write_staged(session) == 2

    assert session.statements == 1  # both rows and the NOTIFY
    assert write_staged(session) == 0
    assert lines[0] == {
        "event": "event staged",
        "log_level": "debug",
        "event_type": "ItemsReleased",
        "event_id": str(staged.event_id),
        "correlation_id": str(cause.payload.order_id),
        "causation_id": str(cause.event_id),
        "topic": "inventory-events",
    }
    assert len(lines) == 2
