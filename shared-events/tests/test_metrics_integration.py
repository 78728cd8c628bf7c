"""The common service metrics against a real broker and database: events counted once their
transaction committed, lag and dead letters read from the broker, the outbox backlog from
the outbox itself."""

import pytest

from shared_events.kafka.consuming.lag import GroupLag
from shared_events.kafka.publishing.outbox import Outbox
from shared_events.kafka.publishing.relay import OutboxRelay
from shared_events.runtime.metrics import ServiceMetrics, sample_value

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def value(metrics: ServiceMetrics, name: str, **labels: str) -> float:
    return sample_value(metrics.render().decode(), name, **labels) or 0.0


def test_events_are_counted_once_committed_and_a_rolled_back_batch_counts_nothing(
    db, kit, new_topic
) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    dlq = new_topic("dlq", partitions=1)
    events = kit.envelopes(model, ["a", "b", "a", "poison", "c", "b", "d"])
    poison = events[3]
    kit.produce(model.topic, [kit.record(e) for e in [*events, events[0]]])  # and a redelivery
    metrics = ServiceMetrics("probe")

    def handler(envelopes, session) -> None:
        db.record_effects(envelopes, session)
        if any(e.event_id == poison.event_id for e in envelopes):
            raise RuntimeError("poison")

    consumer = kit.consumer(
        db,
        model.topic,
        dlq,
        {"Probe": handler},
        max_attempts=2,
        registry=kit.registry(model),
        observer=metrics,
    )
    loop = kit.loop(consumer.run)
    kit.wait_for(lambda: consumer.dead_lettered == 1 and consumer.processed == len(events) - 1)
    loop.stop()

    group = f"g-{model.topic}"

    def handled(outcome: str) -> float:
        return value(
            metrics, "saga_events_handled_total", group=group, event_type="Probe", outcome=outcome
        )

    # The batches holding the poison rolled back: none of their events were counted then.
    assert handled("applied") == len(events) - 1
    assert handled("applied") == db.scalar("SELECT count(*) FROM {s}.effects")
    assert handled("duplicate") == 1
    assert handled("failed") == 2  # its two attempts alone
    assert handled("dead_lettered") == 1
    assert value(metrics, "saga_handler_duration_seconds_count", group=group) >= 1
    batches = value(metrics, "saga_batch_events_count", group=group)
    assert batches >= 1
    # Every fetch is a batch, the one that failed too (a held partition's records are re-read).
    assert value(metrics, "saga_batch_events_sum", group=group) >= len(events) + 1


def test_lag_and_dead_letters_are_read_from_the_broker(db, kit, new_topic) -> None:
    model = kit.probe_model(new_topic(partitions=2))
    dlq = new_topic("dlq", partitions=1)
    group = f"g-{model.topic}"
    metrics = ServiceMetrics("probe")
    metrics.watch_group(GroupLag(kit.bootstrap, group, [model.topic], dlq))

    def lag() -> float:
        return value(metrics, "saga_consumer_lag", group=group, topic=model.topic)

    events = kit.envelopes(model, ["a", "b", "c", "poison", "d"])
    kit.produce(model.topic, [kit.record(e) for e in events])
    # Nothing consumed yet (no offset committed): every record is lag.
    assert lag() == len(events)
    assert value(metrics, "saga_dead_letter_records", group=group, topic=dlq) == 0

    def handler(envelopes, session) -> None:
        if any(e.payload.ref == "poison" for e in envelopes):
            raise RuntimeError("poison")
        db.record_effects(envelopes, session)

    consumer = kit.consumer(
        db, model.topic, dlq, {"Probe": handler}, max_attempts=1, registry=kit.registry(model)
    )
    loop = kit.loop(consumer.run)
    try:
        kit.wait_for(lambda: lag() == 0)
    finally:
        loop.stop()
    assert value(metrics, "saga_dead_letter_records", group=group, topic=dlq) == 1
    partitions = sample_value(
        metrics.render().decode(), "saga_consumer_lag", group=group, partition="1"
    )
    assert partitions == 0  # one sample per partition


def test_a_broker_that_does_not_answer_leaves_the_lag_out_and_the_rest_in(db) -> None:
    metrics = ServiceMetrics("probe")
    metrics.watch_group(GroupLag("127.0.0.1:1", "g", ["t"], "g.dlq", timeout_s=0.5))
    metrics.watch_outbox(db.engine, db.outbox)

    text = metrics.render().decode()

    assert sample_value(text, "saga_consumer_lag") is None
    assert sample_value(text, "saga_outbox_backlog_rows", service="probe") == 0


def test_the_outbox_backlog_and_its_age_fall_to_zero_once_the_relay_publishes(
    db, kit, new_topic
) -> None:
    model = kit.probe_model(new_topic())
    metrics = ServiceMetrics("probe")
    metrics.watch_outbox(db.engine, db.outbox)
    with db.sessions.begin() as session:
        for envelope in kit.envelopes(model, ["a", "b", "c"]):
            Outbox(db.outbox).add(session, envelope)

    assert value(metrics, "saga_outbox_backlog_rows") == 3
    assert value(metrics, "saga_outbox_oldest_age_seconds") > 0

    relay = OutboxRelay(db.engine, db.outbox, kit.bootstrap, observer=metrics)
    try:
        assert relay.publish_pending() == 3
    finally:
        relay.close()

    assert value(metrics, "saga_outbox_backlog_rows") == 0
    assert value(metrics, "saga_outbox_oldest_age_seconds") == 0
    assert value(metrics, "saga_outbox_published_total", service="probe") == 3
    assert value(metrics, "saga_relay_publish_latency_seconds_count") == 3
    assert value(metrics, "saga_relay_publish_latency_seconds_sum") > 0
