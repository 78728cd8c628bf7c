"""The duplicate-storm switch of the relay: every event on the wire twice, applied once."""

import orjson
import pytest

from shared_events.kafka.consuming.backoff import Backoff
from shared_events.kafka.consuming.consumer import EventConsumer
from shared_events.kafka.publishing.outbox import Outbox
from shared_events.kafka.publishing.relay import OutboxRelay

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_the_storm_switch_publishes_each_batch_twice_and_consumers_apply_it_once(
    db, kit, new_topic
) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    dead_letters = new_topic("dlq", partitions=1)
    events = kit.envelopes(model, ["a", "a", "b"])
    with db.sessions.begin() as session:
        for envelope in events:
            Outbox(db.outbox).add(session, envelope)

    relay = OutboxRelay(db.engine, db.outbox, kit.bootstrap, duplicate_every_event=True)
    try:
        assert relay.publish_pending() == len(events)
    finally:
        relay.close()
    assert db.scalar("SELECT count(*) FROM {s}.outbox WHERE sent_at IS NULL") == 0

    wire = [orjson.loads(m.value())["event_id"] for m in kit.read_topic(model.topic, 6)]
    ids = [str(e.event_id) for e in events]
    # Copies follow the whole batch: a key's first event arrives again after its second.
    assert wire == ids + ids

    consumer = EventConsumer(
        bootstrap_servers=kit.bootstrap,
        group_id=f"g-{model.topic}",
        topics=[model.topic],
        handlers={"Probe": db.record_effects},
        session_factory=db.sessions,
        processed_table=db.processed,
        dead_letter_topic=dead_letters,
        retry_backoff=Backoff(initial_s=0.05, max_s=0.2),
        registry=kit.registry(model),
    )
    loop = kit.loop(consumer.run)
    kit.wait_for(lambda: consumer.processed + consumer.duplicates == 2 * len(events))
    loop.stop()
    assert (consumer.processed, consumer.duplicates) == (len(events), len(events))
    assert db.scalar("SELECT count(*) FROM {s}.effects") == len(events)


def test_without_the_switch_each_event_is_published_once(db, kit, new_topic) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    with db.sessions.begin() as session:
        Outbox(db.outbox).add(session, kit.envelopes(model, ["a"])[0])
    relay = OutboxRelay(db.engine, db.outbox, kit.bootstrap)
    try:
        assert relay.publish_pending() == 1
    finally:
        relay.close()
    assert kit.topic_size(model.topic) == 1
