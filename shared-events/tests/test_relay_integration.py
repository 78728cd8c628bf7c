"""The outbox relay against a real broker and database."""

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from uuid import UUID

import orjson
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from shared_events.kafka.consuming.consumer import EventConsumer
from shared_events.kafka.publishing.claim import claim_batch, release
from shared_events.kafka.publishing.outbox import Outbox
from shared_events.kafka.publishing.relay import OutboxRelay, PublishFailed
from shared_events.kafka.tables import add_outbox_lease, drop_outbox_lease

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@contextmanager
def mark_sent_refused(db: Any) -> Iterator[None]:
    """The database refuses to stamp `sent_at` (a trigger raises), as if the relay died
    after the broker acked its records and before it marked them sent."""
    with db.engine.begin() as conn:
        conn.execute(
            text(
                f'CREATE FUNCTION "{db.schema}".refuse_mark_sent() RETURNS trigger '
                "LANGUAGE plpgsql AS $$ BEGIN RAISE 'relay died before mark-sent'; END $$"
            )
        )
        conn.execute(
            text(
                f'CREATE TRIGGER refuse_mark_sent BEFORE UPDATE OF sent_at ON "{db.schema}".outbox '
                "FOR EACH ROW WHEN (NEW.sent_at IS NOT NULL) "
                f'EXECUTE FUNCTION "{db.schema}".refuse_mark_sent()'
            )
        )
    try:
        yield
    finally:
        with db.engine.begin() as conn:
            conn.execute(text(f'DROP TRIGGER refuse_mark_sent ON "{db.schema}".outbox'))


def test_rows_of_a_rolled_back_transaction_are_never_published(db, kit, new_topic) -> None:
    model = kit.probe_model(new_topic())
    outbox = Outbox(db.outbox)
    kept, dropped = kit.envelopes(model, ["a", "b"])
    with db.sessions() as session:
        with session.begin():
            outbox.add(session, kept)
        session.begin()
        outbox.add(session, dropped)
        session.rollback()

    relay = OutboxRelay(db.engine, db.outbox, kit.bootstrap)
    try:
        assert relay.publish_pending() == 1
        assert relay.publish_pending() == 0
    finally:
        relay.close()

    assert kit.topic_size(model.topic) == 1
    on_topic = kit.read_topic(model.topic, 1)
    assert [orjson.loads(m.value())["event_id"] for m in on_topic] == [str(kept.event_id)]
    assert db.scalar("SELECT count(*) FROM {s}.outbox WHERE sent_at IS NULL") == 0


def test_relay_dying_before_mark_sent_republishes_and_the_consumer_applies_once(
    db, kit, new_topic
) -> None:
    model = kit.probe_model(new_topic())
    dlq = new_topic("dlq", partitions=1)
    events = kit.envelopes(model, ["a", "b", "a", "c"])
    outbox = Outbox(db.outbox)
    with db.sessions.begin() as session:
        for envelope in events:
            outbox.add(session, envelope)

    lease = timedelta(seconds=2)
    dying = OutboxRelay(db.engine, db.outbox, kit.bootstrap, lease=lease)
    with mark_sent_refused(db), pytest.raises(DBAPIError, match="relay died before mark-sent"):
        dying.publish_pending()
    dying.close()
    assert db.scalar("SELECT count(*) FROM {s}.outbox WHERE sent_at IS NULL") == len(events)

    relay = OutboxRelay(db.engine, db.outbox, kit.bootstrap)
    # The dead relay's lease keeps its rows from a second copy until it runs out.
    assert relay.publish_pending() == 0
    time.sleep(lease.total_seconds())
    assert relay.publish_pending() == len(events)
    relay.close()
    assert db.scalar("SELECT count(*) FROM {s}.outbox WHERE sent_at IS NULL") == 0
    assert kit.topic_size(model.topic) == 2 * len(events)

    consumer = EventConsumer(
        bootstrap_servers=kit.bootstrap,
        group_id=f"g-{model.topic}",
        topics=[model.topic],
        handlers={"Probe": db.record_effects},
        session_factory=db.sessions,
        processed_table=db.processed,
        dead_letter_topic=dlq,
        registry=kit.registry(model),
    )
    loop = kit.loop(consumer.run)
    kit.wait_for(lambda: consumer.processed + consumer.duplicates == 2 * len(events))
    loop.stop()
    assert (consumer.processed, consumer.duplicates) == (len(events), len(events))
    assert db.scalar("SELECT count(*) FROM {s}.effects") == len(events)
    assert db.scalar("SELECT count(DISTINCT event_id) FROM {s}.effects") == len(events)


def test_parallel_relays_publish_each_row_once_in_key_order(db, kit, new_topic) -> None:
    model = kit.probe_model(new_topic(partitions=3))
    outbox = Outbox(db.outbox)
    refs = [f"key-{i % 40}" for i in range(210)]
    events = kit.envelopes(model, refs)

    def write(batch: list) -> None:
        with db.sessions.begin() as session:
            for envelope in batch:
                outbox.add(session, envelope)

    write(events[:120])
    engines = [create_engine(db.engine.url, pool_size=2) for _ in range(3)]
    relays = [
        OutboxRelay(engine, db.outbox, kit.bootstrap, batch_size=15, poll_interval_s=0.2)
        for engine in engines
    ]
    loops = [kit.loop(relay.run) for relay in relays]
    try:
        # Rows committed while the relays run arrive through NOTIFY as well as polling.
        for start in range(120, 210, 30):
            write(events[start : start + 30])
        kit.wait_for(
            lambda: db.scalar("SELECT count(*) FROM {s}.outbox WHERE sent_at IS NULL") == 0
        )
    finally:
        for loop in loops:
            loop.stop()
        for engine in engines:
            engine.dispose()

    assert all(loop.error is None for loop in loops)
    assert sum(relay.published for relay in relays) == len(events)
    assert kit.topic_size(model.topic) == len(events)
    on_topic = kit.read_topic(model.topic, len(events))
    ids = [UUID(orjson.loads(m.value())["event_id"]) for m in on_topic]
    assert len(ids) == len(set(ids)) == len(events)

    seqs: dict[str, list[int]] = defaultdict(list)
    for message in sorted(on_topic, key=lambda m: (m.partition(), m.offset())):
        payload = orjson.loads(message.value())["payload"]
        seqs[payload["ref"]].append(payload["seq"])
    assert all(found == sorted(found) for found in seqs.values()), seqs
    assert sum(len(found) for found in seqs.values()) == len(events)


@pytest.mark.parametrize("other_relay", ["claiming", "leased"])
def test_a_relay_skips_rows_another_holds_and_later_rows_of_their_keys(
    db, kit, new_topic, other_relay
) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    outbox = Outbox(db.outbox)
    events = kit.envelopes(model, ["a", "b", "c", "a", "d", "b"])
    with db.sessions.begin() as session:
        for envelope in events:
            outbox.add(session, envelope)

    relay = OutboxRelay(db.engine, db.outbox, kit.bootstrap)
    lease = timedelta(minutes=5)
    try:
        with db.engine.connect() as other:
            # "a"#1 and "b"#1, as another relay: inside its claim transaction, or after it.
            other.begin()
            held, _ = claim_batch(other, db.outbox, 2, lease)
            assert [row.key for row in held] == [b"a", b"b"]
            if other_relay == "leased":
                other.commit()
            # "c" and "d" go; "a"#2 and "b"#2 wait for the rows the other relay holds.
            assert relay.publish_pending() == 2
            assert relay.publish_pending() == 0
            if other_relay == "leased":
                release(other, db.outbox, [row.id for row in held])  # its flush failed
                other.commit()
            else:
                other.rollback()  # it died inside its claim
        assert relay.publish_pending() == 4
    finally:
        relay.close()
    order = [orjson.loads(m.value())["payload"] for m in kit.read_topic(model.topic, 6)]
    assert [(p["ref"], p["seq"]) for p in order] == [
        ("c", 1),
        ("d", 1),
        ("a", 1),
        ("b", 1),
        ("a", 2),
        ("b", 2),
    ]


def test_relay_wakes_on_notify_without_waiting_for_the_poll(db, kit, new_topic) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    relay = OutboxRelay(db.engine, db.outbox, kit.bootstrap, poll_interval_s=30.0)
    loop = kit.loop(relay.run)
    try:
        kit.wait_for(lambda: relay.healthy)
        # Give the loop time to reach its LISTEN wait before the commit.
        threading.Event().wait(0.5)
        with db.sessions.begin() as session:
            Outbox(db.outbox).add(session, kit.envelopes(model, ["a"])[0])
        kit.wait_for(lambda: relay.published == 1, timeout_s=10)
    finally:
        loop.stop(timeout_s=40)


def test_commits_close_together_share_a_round_while_an_idle_wake_up_is_served_at_once(
    db, kit, new_topic
) -> None:
    topic = new_topic(partitions=1)
    model = kit.probe_model(topic)
    relay = OutboxRelay(
        db.engine, db.outbox, kit.bootstrap, poll_interval_s=30.0, min_round_interval_s=1.0
    )
    loop = kit.loop(relay.run)
    try:
        kit.wait_for(lambda: relay.healthy)
        threading.Event().wait(1.2)  # idle: past the first round's interval, waiting on LISTEN
        before = relay.rounds
        first, *rest = kit.envelopes(model, [f"k{i % 3}" for i in range(10)])
        with db.sessions.begin() as session:
            Outbox(db.outbox).add(session, first)
        kit.wait_for(lambda: relay.published == 1, timeout_s=0.8)  # well inside the interval
        for envelope in rest:
            with db.sessions.begin() as session:  # nine commits, nine NOTIFYs, 0.1 s apart
                Outbox(db.outbox).add(session, envelope)
            threading.Event().wait(0.1)
        kit.wait_for(lambda: relay.published == 10, timeout_s=15)
        threading.Event().wait(1.5)  # a wake-up still queued would start another round
        assert kit.topic_size(topic) == 10
        # The first commit's round at once, then one round for the nine behind it.
        assert relay.rounds - before <= 3, relay.rounds - before
    finally:
        loop.stop(timeout_s=40)


def test_the_lease_migration_adds_the_column_to_an_older_outbox_keeping_its_rows(
    db, kit, new_topic
) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    with db.engine.begin() as conn:
        conn.execute(text(f'ALTER TABLE "{db.schema}".outbox DROP COLUMN leased_until'))
        conn.execute(  # a row written by a release of the code before the lease
            text(
                f'INSERT INTO "{db.schema}".outbox (event_id, topic, key, value) '
                "VALUES (gen_random_uuid(), :topic, 'k', '{}')"
            ),
            {"topic": model.topic},
        )
    for _ in range(2):  # a second run is a no-op (a fresh database has it from 0001)
        with db.engine.begin() as conn:
            add_outbox_lease(conn, db.schema)
    assert db.scalar("SELECT count(*) FROM {s}.outbox WHERE leased_until IS NULL") == 1

    relay = OutboxRelay(db.engine, db.outbox, kit.bootstrap)
    try:
        assert relay.publish_pending() == 1
    finally:
        relay.close()
    assert db.scalar("SELECT count(*) FROM {s}.outbox WHERE sent_at IS NULL") == 0

    with db.engine.begin() as conn:
        drop_outbox_lease(conn, db.schema)
    assert (
        db.scalar(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_schema = '{s}' AND column_name = 'leased_until'"
        )
        == 0
    )


def test_a_refused_record_goes_back_unleased_while_its_batch_is_marked_sent(
    db, kit, new_topic
) -> None:
    model = kit.probe_model(new_topic(partitions=1))
    with db.sessions.begin() as session:
        for envelope in kit.envelopes(model, ["a", "b"]):
            Outbox(db.outbox).add(session, envelope)
    with db.engine.begin() as conn:  # too large for the producer below: refused up front
        conn.execute(
            text(
                f"UPDATE \"{db.schema}\".outbox SET value = repeat('x', 5000)::bytea "
                "WHERE key = 'b'"
            )
        )
    producer = {"bootstrap.servers": kit.bootstrap, "message.max.bytes": 2000}
    relay = OutboxRelay(db.engine, db.outbox, producer, lease=timedelta(minutes=5))
    try:
        with pytest.raises(PublishFailed):
            relay.publish_pending()
    finally:
        relay.close()
    rows = db.scalar(
        "SELECT json_agg(json_build_array(key, sent_at IS NOT NULL, leased_until IS NULL) "
        "ORDER BY id) FROM {s}.outbox"
    )
    # "a" went and is marked sent; "b" is unsent and free for the next round at once.
    assert rows == [["\\x61", True, True], ["\\x62", False, True]]
