"""The idempotent consumer against a real broker and database."""

import time
import uuid

import orjson
import psycopg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from sqlalchemy.exc import OperationalError

from shared_events.kafka.backoff import Backoff
from shared_events.kafka.codec import encode, header
from shared_events.kafka.consumed import ConsumedRecord
from shared_events.kafka.consumer import EventConsumer
from shared_events.kafka.outbox import Outbox
from shared_events.kafka.relay import OutboxRelay
from shared_events.kafka.worker import DeliveryWorker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

FAST_RETRY = Backoff(initial_s=0.05, max_s=0.2)


class ConsumerCrash(Exception):
    """Stands for the process dying after its DB commit, before the offset commit."""


class ConsumerDyingAfterCommit(EventConsumer):
    def _after_commit(self, message: ConsumedRecord) -> None:
        raise ConsumerCrash(f"died after committing offset {message.offset}")


def make_consumer(db, kit, topic, dlq, handlers, cls=EventConsumer, **kwargs) -> EventConsumer:
    return cls(
        bootstrap_servers=kit.bootstrap,
        group_id=kwargs.pop("group_id", f"g-{topic}"),
        topics=[topic],
        handlers=handlers,
        session_factory=db.sessions,
        processed_table=db.processed,
        dead_letter_topic=dlq,
        retry_backoff=kwargs.pop("retry_backoff", FAST_RETRY),
        outage_backoff=kwargs.pop("outage_backoff", FAST_RETRY),
        **kwargs,
    )


def produce(
    kit, topic: str, records: list[tuple[bytes | None, bytes, list]], *, spread: bool = False
) -> None:
    """Publish the records (with `spread`, the n-th to partition n, not by key)."""
    producer = Producer({"bootstrap.servers": kit.bootstrap, "enable.idempotence": True})
    for n, (key, value, headers) in enumerate(records):
        where = {"partition": n} if spread else {}
        producer.produce(topic, value=value, key=key, headers=headers, **where)
    assert producer.flush(30) == 0


def committed_offset(kit, group: str, topic: str, partition: int = 0) -> int:
    consumer = Consumer({"bootstrap.servers": kit.bootstrap, "group.id": group})
    try:
        [tp] = consumer.committed([TopicPartition(topic, partition)], timeout=10)
        return int(tp.offset)
    finally:
        consumer.close()


def refused_connection() -> OperationalError:
    """What SQLAlchemy raises while Postgres is down."""
    return OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused"))


def as_record(envelope):
    record = encode(envelope)
    return record.key, record.value, record.headers


def test_a_consumer_dying_between_db_commit_and_offset_commit_applies_nothing_twice(
    db, kit, new_topic
) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    dlq = new_topic("dlq", partitions=1)
    events = kit.envelopes(model, ["a", "a", "a"])
    produce(kit, model.topic, [as_record(e) for e in events])
    registry = kit.registry(model)

    dying = make_consumer(
        db,
        kit,
        model.topic,
        dlq,
        {"Probe": db.record_effect},
        ConsumerDyingAfterCommit,
        registry=registry,
    )
    loop = kit.loop(dying.run)
    loop.thread.join(30)
    assert isinstance(loop.error, ConsumerCrash)
    assert db.scalar("SELECT count(*) FROM {s}.effects") == 1

    survivor = make_consumer(
        db, kit, model.topic, dlq, {"Probe": db.record_effect}, registry=registry
    )
    loop = kit.loop(survivor.run)
    kit.wait_for(lambda: survivor.processed + survivor.duplicates == len(events))
    loop.stop()
    assert (survivor.processed, survivor.duplicates) == (2, 1)
    assert db.scalar("SELECT count(*) FROM {s}.effects") == len(events)
    assert db.scalar("SELECT count(DISTINCT event_id) FROM {s}.effects") == len(events)
    assert committed_offset(kit, f"g-{model.topic}", model.topic) == len(events)


def test_poison_messages_are_dead_lettered_and_the_partition_moves_on(db, kit, new_topic) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    dlq = new_topic("dlq", partitions=1)
    good = kit.envelopes(model, ["k"])[0]
    key, value, headers = as_record(good)
    envelope = orjson.loads(value)
    poison = [
        (b"k", b"{not json", []),
        (b"k", orjson.dumps({**envelope, "event_type": "Nope"}), []),
        (b"k", orjson.dumps({**envelope, "event_version": 9}), []),
        (b"k", orjson.dumps({**envelope, "payload": {"seq": "x"}}), []),
    ]
    produce(kit, model.topic, [*poison, (key, value, headers)])

    consumer = make_consumer(
        db, kit, model.topic, dlq, {"Probe": db.record_effect}, registry=kit.registry(model)
    )
    loop = kit.loop(consumer.run)
    kit.wait_for(lambda: consumer.processed == 1)
    loop.stop()

    assert consumer.dead_lettered == len(poison)
    assert db.scalar("SELECT count(*) FROM {s}.effects") == 1
    letters = kit.read_topic(dlq, len(poison))
    reasons = [header(m.headers(), "dlq.reason") for m in letters]
    assert reasons == [
        "not_json",
        "unknown_event_type",
        "unsupported_event_version",
        "invalid_payload",
    ]
    assert [m.value() for m in letters] == [value for _, value, _ in poison]
    first = letters[0].headers()
    assert header(first, "dlq.original_topic") == model.topic
    assert header(first, "dlq.original_partition") == "0"
    assert header(first, "dlq.original_offset") == "0"
    assert header(first, "dlq.consumer") == f"g-{model.topic}"
    assert header(first, "dlq.error") and header(first, "dlq.failed_at")
    assert committed_offset(kit, f"g-{model.topic}", model.topic) == len(poison) + 1


def test_a_failing_handler_is_retried_then_dead_lettered_and_a_flaky_one_applies_once(
    db, kit, new_topic
) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    dlq = new_topic("dlq", partitions=1)
    broken, flaky = kit.envelopes(model, ["a", "b"])
    produce(kit, model.topic, [as_record(broken), as_record(flaky)])
    calls: dict[uuid.UUID, int] = {}

    def handler(envelope, session) -> None:
        calls[envelope.event_id] = calls.get(envelope.event_id, 0) + 1
        db.record_effect(envelope, session)
        if envelope.event_id == broken.event_id or calls[envelope.event_id] == 1:
            raise RuntimeError("handler bug")

    consumer = make_consumer(
        db,
        kit,
        model.topic,
        dlq,
        {"Probe": handler},
        max_attempts=3,
        registry=kit.registry(model),
    )
    loop = kit.loop(consumer.run)
    kit.wait_for(lambda: consumer.processed == 1)
    loop.stop()

    assert calls == {broken.event_id: 3, flaky.event_id: 2}
    assert consumer.dead_lettered == 1
    assert db.scalar("SELECT count(*) FROM {s}.effects") == 1
    assert db.scalar("SELECT count(*) FROM {s}.processed_events") == 1
    [letter] = kit.read_topic(dlq, 1)
    assert header(letter.headers(), "dlq.reason") == "handler_failed"
    assert "handler bug" in (header(letter.headers(), "dlq.error") or "")
    assert header(letter.headers(), "event_id") == str(broken.event_id)


def test_an_unreachable_database_is_waited_for_and_never_dead_lettered(db, kit, new_topic) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    dlq = new_topic("dlq", partitions=1)
    [event] = kit.envelopes(model, ["a"])
    produce(kit, model.topic, [as_record(event)])
    outage = {"left": 4}
    seen_unhealthy: list[bool] = []

    def handler(envelope, session) -> None:
        if outage["left"]:
            outage["left"] -= 1
            seen_unhealthy.append(not consumer.healthy)
            raise refused_connection()
        db.record_effect(envelope, session)

    consumer = make_consumer(
        db,
        kit,
        model.topic,
        dlq,
        {"Probe": handler},
        max_attempts=2,
        registry=kit.registry(model),
    )
    loop = kit.loop(consumer.run)
    kit.wait_for(lambda: consumer.processed == 1)
    assert consumer.healthy
    loop.stop()
    assert consumer.dead_lettered == 0
    assert any(seen_unhealthy)
    assert db.scalar("SELECT count(*) FROM {s}.effects") == 1


def test_once_the_database_is_back_every_partition_waiting_for_it_retries_at_once(
    db, kit, new_topic
) -> None:
    model = kit.probe_model(new_topic(partitions=3))
    dlq = new_topic("dlq", partitions=1)
    events = kit.envelopes(model, ["a", "b", "c"])
    produce(kit, model.topic, [as_record(envelope) for envelope in events], spread=True)
    outage = {"left": 3}  # one failure per partition: their holds grow to 1 s, 4 s and 16 s

    def handler(envelope, session) -> None:
        if outage["left"]:
            outage["left"] -= 1
            raise refused_connection()
        db.record_effect(envelope, session)

    consumer = make_consumer(
        db,
        kit,
        model.topic,
        dlq,
        {"Probe": handler},
        registry=kit.registry(model),
        outage_backoff=Backoff(initial_s=1.0, max_s=60.0, factor=4.0),
    )
    loop = kit.loop(consumer.run)
    try:
        kit.wait_for(lambda: outage["left"] == 0)
        # The first retry (after 1 s) finds the database back; the other two follow it then,
        # well before the 16 s the last one was held for.
        kit.wait_for(lambda: consumer.processed == 3, timeout_s=10)
    finally:
        loop.stop()
    assert db.scalar("SELECT count(*) FROM {s}.effects") == 3


def test_events_without_a_handler_are_skipped_and_committed(db, kit, new_topic) -> None:
    topic = new_topic(partitions=1)
    model, other = kit.probe_model(topic), kit.probe_model(topic, "Other")
    dlq = new_topic("dlq", partitions=1)
    produce(kit, topic, [as_record(e) for e in kit.envelopes(other, ["a", "b"])])
    consumer = make_consumer(
        db, kit, topic, dlq, {"Probe": db.record_effect}, registry=kit.registry(model, other)
    )
    loop = kit.loop(consumer.run)
    kit.wait_for(lambda: consumer.skipped == 2)
    loop.stop()
    assert db.scalar("SELECT count(*) FROM {s}.processed_events") == 0
    assert committed_offset(kit, f"g-{topic}", topic) == 2


def test_the_worker_is_ready_once_both_loops_run_and_drains_on_stop(db, kit, new_topic) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    dlq = new_topic("dlq", partitions=1)
    consumer = make_consumer(
        db, kit, model.topic, dlq, {"Probe": db.record_effect}, registry=kit.registry(model)
    )
    worker = DeliveryWorker(OutboxRelay(db.engine, db.outbox, kit.bootstrap), consumer)
    assert not worker.ready
    worker.start()
    try:
        kit.wait_for(lambda: worker.ready)
        with db.sessions.begin() as session:
            for envelope in kit.envelopes(model, ["a", "b"]):
                Outbox(db.outbox).add(session, envelope)
        kit.wait_for(lambda: consumer.processed == 2)
    finally:
        assert worker.stop(timeout=30)
    assert not worker.ready and not worker.alive
    assert db.scalar("SELECT count(*) FROM {s}.effects") == 2
    assert committed_offset(kit, f"g-{model.topic}", model.topic) == 2


def test_a_stop_during_a_batch_finishes_the_batch_and_commits_it(db, kit, new_topic) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    dlq = new_topic("dlq", partitions=1)
    batch = kit.envelopes(model, ["a", "b", "c", "d", "e"])
    produce(kit, model.topic, [as_record(envelope) for envelope in batch])
    handled: list[object] = []

    def slow_handler(envelope, session) -> None:
        db.record_effect(envelope, session)
        handled.append(envelope.event_id)
        if len(handled) == 1:
            loop.stop_event.set()  # SIGTERM arrives while the rest of the batch waits
        time.sleep(0.2)

    consumer = make_consumer(
        db, kit, model.topic, dlq, {"Probe": slow_handler}, registry=kit.registry(model)
    )
    loop = kit.loop(consumer.run)
    loop.thread.join(60)
    assert not loop.thread.is_alive() and loop.error is None
    # All five came in one fetch, so the stop waited for the fifth, then committed past it.
    assert handled == [envelope.event_id for envelope in batch]
    assert db.scalar("SELECT count(*) FROM {s}.effects") == 5
    assert committed_offset(kit, f"g-{model.topic}", model.topic) == 5
