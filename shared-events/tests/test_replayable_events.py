"""Replayable event types skip the inbox: re-reading their topic from the start applies them
again (a catalog rebuild), while the other types of the same batch stay exactly-once."""

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from shared_events.kafka.consuming.inbox import apply_batch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_a_replayable_event_is_applied_every_time_and_never_recorded(db, kit) -> None:
    state = kit.probe_model("unused", event_type="State")
    saga = kit.probe_model("unused", event_type="Probe")
    [replayed] = kit.envelopes(state, ["s"])
    [recorded] = kit.envelopes(saga, ["o"])
    handlers = {"State": db.record_effects, "Probe": db.record_effects}

    for _ in range(2):
        applied = apply_batch(
            db.sessions,
            db.processed,
            "consumer",
            [replayed, recorded, replayed],
            handlers,
            replayable={"State"},
        )
        assert [e.event_type for e in applied].count("State") == 2

    effects = "SELECT count(*) FROM {s}.effects WHERE event_id = '%s'"
    assert db.scalar(effects % replayed.event_id) == 4  # every copy, every time
    assert db.scalar(effects % recorded.event_id) == 1  # once, as ever
    assert db.scalar("SELECT count(*) FROM {s}.processed_events") == 1


def test_a_group_rewound_on_its_topic_applies_the_replayable_events_again(
    db, kit, new_topic
) -> None:
    topic = new_topic(partitions=2)
    dlq = new_topic("dlq", partitions=1)
    state = kit.probe_model(topic, event_type="State")
    saga = kit.probe_model(topic, event_type="Probe")
    events = [*kit.envelopes(state, ["a", "b", "c"]), *kit.envelopes(saga, ["x", "y"])]
    kit.produce(topic, [kit.record(e) for e in events])
    handlers = {"State": db.record_effects, "Probe": db.record_effects}

    def run_to_end() -> None:
        consumer = kit.consumer(
            db, topic, dlq, handlers, registry=kit.registry(state, saga), replayable_types={"State"}
        )
        loop = kit.loop(consumer.run)
        kit.wait_for(lambda: consumer.processed + consumer.duplicates == len(events))
        loop.stop()

    run_to_end()
    admin = AdminClient({"bootstrap.servers": kit.bootstrap})
    rewound = ConsumerGroupTopicPartitions(
        f"g-{topic}", [TopicPartition(topic, p, 0) for p in range(2)]
    )
    for future in admin.alter_consumer_group_offsets([rewound]).values():
        future.result(timeout=30)
    run_to_end()

    def effects(event_type: str) -> int:
        ids = ", ".join(f"'{e.event_id}'" for e in events if e.event_type == event_type)
        return int(db.scalar(f"SELECT count(*) FROM {{s}}.effects WHERE event_id IN ({ids})"))

    assert (effects("State"), effects("Probe")) == (6, 2)  # read twice, applied twice / once
