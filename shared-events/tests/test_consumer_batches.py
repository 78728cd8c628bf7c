"""Batches of events in one transaction, against a real broker and database: a failing event
is isolated, a held partition does not hold back the others, an outage loses nothing."""

import threading

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from shared_events import new_envelope
from shared_events.kafka.codec import header

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

HELD_SEQ_BASE = 100  # seqs of the other keys: the held key's run 1, 2, 3 below them


def test_a_poison_event_in_the_middle_of_a_batch_is_dead_lettered_alone(db, kit, new_topic) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    dlq = new_topic("dlq", partitions=1)
    events = kit.envelopes(model, ["a", "b", "a", "poison", "c", "b", "d"])
    poison = events[3]
    kit.produce(model.topic, [kit.record(e) for e in events])
    batch_sizes: list[int] = []

    def handler(envelopes, session) -> None:
        batch_sizes.append(len(envelopes))
        db.record_effects(envelopes, session)  # rolled back with the batch when poison is in it
        if any(e.event_id == poison.event_id for e in envelopes):
            raise RuntimeError("poison")

    consumer = kit.consumer(
        db, model.topic, dlq, {"Probe": handler}, max_attempts=2, registry=kit.registry(model)
    )
    loop = kit.loop(consumer.run)
    kit.wait_for(lambda: consumer.dead_lettered == 1 and consumer.processed == len(events) - 1)
    loop.stop()

    assert max(batch_sizes) > 1, "no event shared a batch: this proves nothing"
    assert consumer.dead_lettered == 1
    [letter] = kit.read_topic(dlq, 1)
    assert header(letter.headers(), "event_id") == str(poison.event_id)
    innocent = {str(e.event_id) for e in events if e is not poison}
    assert db.scalar("SELECT count(*) FROM {s}.effects") == len(innocent)
    assert db.scalar("SELECT count(DISTINCT event_id) FROM {s}.effects") == len(innocent)
    assert kit.committed_offset(f"g-{model.topic}", model.topic) == len(events)


def test_a_held_partition_lets_the_others_progress_and_resumes_in_order(db, kit, new_topic) -> None:
    model = kit.probe_model(new_topic(partitions=3))
    dlq = new_topic("dlq", partitions=1)
    held = kit.envelopes(model, ["held", "held", "held"])  # seq 1, 2, 3
    others = [
        new_envelope(model(ref=ref, seq=HELD_SEQ_BASE + n), producer="test")
        for n, ref in enumerate(["p1", "p2"] * 4)
    ]
    records = [kit.record(e) for e in [*held, *others]]
    kit.produce(model.topic, records, partitions=[0, 0, 0] + [1, 2] * 4)
    others_done = threading.Event()
    out_of_order: list[int] = []

    def handler(envelopes, session) -> None:
        for envelope in envelopes:
            seq = envelope.payload.seq
            if seq < HELD_SEQ_BASE:
                if seq == 1 and not others_done.is_set():
                    raise RuntimeError("the held key's first event fails until the rest is in")
                before = session.execute(
                    text(f'SELECT coalesce(max(seq), 0) FROM "{db.schema}".effects WHERE seq < :b'),
                    {"b": HELD_SEQ_BASE},
                ).scalar()
                if before != seq - 1:
                    out_of_order.append(seq)
        db.record_effects(envelopes, session)

    consumer = kit.consumer(
        db, model.topic, dlq, {"Probe": handler}, max_attempts=1000, registry=kit.registry(model)
    )
    loop = kit.loop(consumer.run)
    try:
        kit.wait_for(
            lambda: (
                db.scalar(f"SELECT count(*) FROM {{s}}.effects WHERE seq >= {HELD_SEQ_BASE}")
                == len(others)
            )
        )
        # Partitions 1 and 2 are done while partition 0 is still held at its first event.
        assert db.scalar(f"SELECT count(*) FROM {{s}}.effects WHERE seq < {HELD_SEQ_BASE}") == 0
        others_done.set()
        kit.wait_for(lambda: consumer.processed == len(held) + len(others))
    finally:
        loop.stop()

    assert out_of_order == []
    assert consumer.dead_lettered == 0
    assert db.scalar("SELECT count(*) FROM {s}.effects") == len(held) + len(others)
    for partition, count in ((0, 3), (1, 4), (2, 4)):
        assert kit.committed_offset(f"g-{model.topic}", model.topic, partition) == count


def test_a_database_outage_in_the_middle_of_a_batch_loses_nothing_and_applies_nothing_twice(
    db, kit, new_topic
) -> None:
    model = kit.probe_model(new_topic(partitions=3))
    dlq = new_topic("dlq", partitions=1)
    events = kit.envelopes(model, [f"k{n}" for n in range(12)])
    kit.produce(model.topic, [kit.record(e) for e in events], partitions=[n % 3 for n in range(12)])
    outages = {"left": 2}
    seen_down: list[bool] = []

    def handler(envelopes, session) -> None:
        half = len(envelopes) // 2
        db.record_effects(envelopes[:half], session)  # half the batch in, then the database goes
        if outages["left"] and len(envelopes) > 1:
            outages["left"] -= 1
            seen_down.append(True)
            raise OperationalError("INSERT", {}, psycopg.OperationalError("server closed"))
        db.record_effects(envelopes[half:], session)

    consumer = kit.consumer(
        db, model.topic, dlq, {"Probe": handler}, max_attempts=1, registry=kit.registry(model)
    )
    loop = kit.loop(consumer.run)
    kit.wait_for(lambda: consumer.processed == len(events))
    assert consumer.healthy
    loop.stop()

    assert seen_down, "no batch met the outage: this proves nothing"
    assert consumer.dead_lettered == 0  # max_attempts=1: an outage is never an attempt
    assert db.scalar("SELECT count(*) FROM {s}.effects") == len(events)
    assert db.scalar("SELECT count(DISTINCT event_id) FROM {s}.effects") == len(events)
    for partition in range(3):
        assert kit.committed_offset(f"g-{model.topic}", model.topic, partition) == 4
