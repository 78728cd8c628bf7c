"""The idempotent consumer against a real broker and database."""

import time
import uuid

import orjson
import pytest

from shared_events.kafka.codec import header
from shared_events.kafka.observer import NoObserver, Outcome
from shared_events.kafka.publishing.outbox import Outbox
from shared_events.kafka.publishing.relay import OutboxRelay
from shared_events.runtime.threads import LoopThreads

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class ConsumerCrash(BaseException):
    """Stands for the process dying after its DB commit, before the offset commit.

    A BaseException, as a kill is: no `except Exception` in the consumer turns it into a
    batch failure, so the loop ends without committing offsets.
    """


class DyingAfterCommit(NoObserver):
    """An observer that kills the consumer at its first report of events applied, which
    comes once their transaction committed and before their offsets are committed."""

    def handled(self, group: str, event_type: str, outcome: Outcome, count: int = 1) -> None:
        if outcome == "applied":
            raise ConsumerCrash(f"died after committing {count} {event_type} events")


def test_a_consumer_dying_between_a_batchs_db_commit_and_offset_commit_applies_nothing_twice(
    db, kit, new_topic
) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    dlq = new_topic("dlq", partitions=1)
    events = kit.envelopes(model, ["a", "b", "a", "c", "a"])
    kit.produce(model.topic, [kit.record(e) for e in events])
    registry = kit.registry(model)

    dying = kit.consumer(
        db,
        model.topic,
        dlq,
        {"Probe": db.record_effects},
        registry=registry,
        observer=DyingAfterCommit(),
    )
    loop = kit.loop(dying.run)
    loop.thread.join(30)
    assert isinstance(loop.error, ConsumerCrash)
    committed = dying.processed
    assert committed > 1, "the first batch held one event: this proves nothing about batches"
    assert db.scalar("SELECT count(*) FROM {s}.effects") == committed

    survivor = kit.consumer(db, model.topic, dlq, {"Probe": db.record_effects}, registry=registry)
    loop = kit.loop(survivor.run)
    kit.wait_for(lambda: survivor.processed + survivor.duplicates == len(events))
    loop.stop()
    assert (survivor.processed, survivor.duplicates) == (len(events) - committed, committed)
    assert db.scalar("SELECT count(*) FROM {s}.effects") == len(events)
    assert db.scalar("SELECT count(DISTINCT event_id) FROM {s}.effects") == len(events)
    assert kit.committed_offset(f"g-{model.topic}", model.topic) == len(events)


def test_poison_messages_are_dead_lettered_and_the_partition_moves_on(db, kit, new_topic) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    dlq = new_topic("dlq", partitions=1)
    good = kit.envelopes(model, ["k"])[0]
    key, value, headers = kit.record(good)
    envelope = orjson.loads(value)
    poison = [
        (b"k", b"{not json", []),
        (b"k", orjson.dumps({**envelope, "event_type": "Nope"}), []),
        (b"k", orjson.dumps({**envelope, "event_version": 9}), []),
        (b"k", orjson.dumps({**envelope, "payload": {"seq": "x"}}), []),
    ]
    kit.produce(model.topic, [*poison, (key, value, headers)])

    consumer = kit.consumer(
        db, model.topic, dlq, {"Probe": db.record_effects}, registry=kit.registry(model)
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
    assert kit.committed_offset(f"g-{model.topic}", model.topic) == len(poison) + 1


def test_a_failing_handler_is_retried_then_dead_lettered_and_a_flaky_one_applies_once(
    db, kit, new_topic
) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    dlq = new_topic("dlq", partitions=1)
    broken, flaky = kit.envelopes(model, ["a", "b"])
    kit.produce(model.topic, [kit.record(broken), kit.record(flaky)])
    calls: dict[uuid.UUID, int] = {}

    def handler(envelope, session) -> None:
        calls[envelope.event_id] = calls.get(envelope.event_id, 0) + 1
        db.record_effect(envelope, session)
        if envelope.event_id == broken.event_id or calls[envelope.event_id] == 1:
            raise RuntimeError("handler bug")

    consumer = kit.consumer(
        db,
        model.topic,
        dlq,
        {"Probe": kit.each(handler)},
        max_attempts=3,
        registry=kit.registry(model),
    )
    loop = kit.loop(consumer.run)
    kit.wait_for(lambda: consumer.processed == 1)
    loop.stop()

    # Broken: once in the batch with its neighbour (which rolls back), then its 3 attempts
    # alone. Flaky: never reached in the batch, then fails once alone and applies.
    assert calls == {broken.event_id: 1 + 3, flaky.event_id: 2}
    assert consumer.dead_lettered == 1
    assert db.scalar("SELECT count(*) FROM {s}.effects") == 1
    assert db.scalar("SELECT count(*) FROM {s}.processed_events") == 1
    [letter] = kit.read_topic(dlq, 1)
    assert header(letter.headers(), "dlq.reason") == "handler_failed"
    assert "handler bug" in (header(letter.headers(), "dlq.error") or "")
    assert header(letter.headers(), "event_id") == str(broken.event_id)


def test_events_without_a_handler_are_skipped_and_committed(db, kit, new_topic) -> None:
    topic = new_topic(partitions=1)
    model, other = kit.probe_model(topic), kit.probe_model(topic, "Other")
    dlq = new_topic("dlq", partitions=1)
    kit.produce(topic, [kit.record(e) for e in kit.envelopes(other, ["a", "b"])])
    consumer = kit.consumer(
        db, topic, dlq, {"Probe": db.record_effects}, registry=kit.registry(model, other)
    )
    loop = kit.loop(consumer.run)
    kit.wait_for(lambda: consumer.skipped == 2)
    loop.stop()
    assert db.scalar("SELECT count(*) FROM {s}.processed_events") == 0
    assert kit.committed_offset(f"g-{topic}", topic) == 2


def test_the_worker_is_ready_once_both_loops_run_and_drains_on_stop(db, kit, new_topic) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    dlq = new_topic("dlq", partitions=1)
    consumer = kit.consumer(
        db, model.topic, dlq, {"Probe": db.record_effects}, registry=kit.registry(model)
    )
    worker = LoopThreads(OutboxRelay(db.engine, db.outbox, kit.bootstrap), consumer)
    assert not ready(worker)
    worker.start()
    try:
        kit.wait_for(lambda: ready(worker))
        with db.sessions.begin() as session:
            for envelope in kit.envelopes(model, ["a", "b"]):
                Outbox(db.outbox).add(session, envelope)
        kit.wait_for(lambda: consumer.processed == 2)
    finally:
        assert worker.stop(timeout=30)
    assert not ready(worker) and not worker.alive
    assert db.scalar("SELECT count(*) FROM {s}.effects") == 2
    assert kit.committed_offset(f"g-{model.topic}", model.topic) == 2


def test_a_stop_during_a_batch_finishes_the_batch_and_commits_it(db, kit, new_topic) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    dlq = new_topic("dlq", partitions=1)
    batch = kit.envelopes(model, ["a", "b", "c", "d", "e"])
    kit.produce(model.topic, [kit.record(envelope) for envelope in batch])
    handled: list[object] = []

    def slow_handler(envelope, session) -> None:
        db.record_effect(envelope, session)
        handled.append(envelope.event_id)
        if len(handled) == 1:
            loop.stop_event.set()  # SIGTERM arrives while the rest of the batch waits
        time.sleep(0.2)

    consumer = kit.consumer(
        db, model.topic, dlq, {"Probe": kit.each(slow_handler)}, registry=kit.registry(model)
    )
    loop = kit.loop(consumer.run)
    loop.thread.join(60)
    assert not loop.thread.is_alive() and loop.error is None
    # All five came in one fetch, so the stop waited for the fifth, then committed past it.
    assert handled == [envelope.event_id for envelope in batch]
    assert db.scalar("SELECT count(*) FROM {s}.effects") == 5
    assert kit.committed_offset(f"g-{model.topic}", model.topic) == 5


def ready(worker: LoopThreads) -> bool:
    """Every thread alive and every part it reports ready (the consumer joined, the relay up)."""
    return worker.alive and all(worker.readiness().values())
