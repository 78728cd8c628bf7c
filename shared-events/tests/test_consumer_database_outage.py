"""The consumer while its database is down, against a real broker and database."""

from collections.abc import Callable

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from shared_events.kafka.consuming.backoff import Backoff

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class DatabaseDown:
    """A handler that finds the database down `failures` times, then records its effect."""

    def __init__(self, db, failures: int, on_failure: Callable[[], None] = lambda: None) -> None:
        self.db, self.left, self.on_failure = db, failures, on_failure

    def __call__(self, envelope, session) -> None:
        if self.left:
            self.left -= 1
            self.on_failure()
            raise OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused"))
        self.db.record_effect(envelope, session)


def test_an_unreachable_database_is_waited_for_and_never_dead_lettered(db, kit, new_topic) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    dlq = new_topic("dlq", partitions=1)
    [event] = kit.envelopes(model, ["a"])
    kit.produce(model.topic, [kit.record(event)])
    seen_unhealthy: list[bool] = []
    handler = DatabaseDown(db, 4, on_failure=lambda: seen_unhealthy.append(not consumer.healthy))
    consumer = kit.consumer(
        db,
        model.topic,
        dlq,
        {"Probe": kit.each(handler)},
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
    kit.produce(model.topic, [kit.record(envelope) for envelope in events], partitions=[0, 1, 2])
    # One failure per partition: their holds grow to 1 s, 4 s and 16 s.
    handler = DatabaseDown(db, 3)
    consumer = kit.consumer(
        db,
        model.topic,
        dlq,
        {"Probe": kit.each(handler)},
        registry=kit.registry(model),
        outage_backoff=Backoff(initial_s=1.0, max_s=60.0, factor=4.0, jitter=0.0),
    )
    loop = kit.loop(consumer.run)
    try:
        kit.wait_for(lambda: handler.left == 0)
        # The first retry (after 1 s) finds the database back; the other two follow it then,
        # well before the 16 s the last one was held for.
        kit.wait_for(lambda: consumer.processed == 3, timeout_s=10)
    finally:
        loop.stop()
    assert db.scalar("SELECT count(*) FROM {s}.effects") == 3
