"""What the consumer does as the group takes partitions away (no broker: a recording client)."""

import time

from confluent_kafka import TopicPartition
from sqlalchemy import MetaData

from shared_events.kafka.consuming.consumer import EventConsumer
from shared_events.kafka.tables import event_tables


class RecordingClient:
    """Records the commits and resumes the consumer asks of its Kafka client."""

    def __init__(self) -> None:
        self.committed: list[tuple[str, int, int]] = []
        self.resumed: list[tuple[str, int]] = []

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        assert not asynchronous
        self.committed += sorted((tp.topic, tp.partition, tp.offset) for tp in offsets)

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.resumed += [(tp.topic, tp.partition) for tp in partitions]

    def pause(self, partitions: list[TopicPartition]) -> None:
        pass

    def seek(self, partition: TopicPartition) -> None:
        pass


def offline_consumer() -> EventConsumer:
    _, processed = event_tables("t", MetaData())
    return EventConsumer(
        bootstrap_servers="127.0.0.1:1",  # never contacted: no message is produced
        group_id="g",
        topics=["order-events"],
        handlers={},
        session_factory=None,  # type: ignore[arg-type]
        processed_table=processed,
        dead_letter_topic="g.dlq",
    )


def progress_on_partitions_0_to_2(consumer: EventConsumer, client: RecordingClient) -> None:
    """Partitions 0 and 1 have processed offsets to commit; partition 2 is held for a retry."""
    consumer._progress.processed("order-events", 0, 9)
    consumer._progress.processed("order-events", 1, 4)
    consumer._progress.hold(client, "order-events", 2, 7, delay_s=600)  # type: ignore[arg-type]
    consumer._retries.attempts[("order-events", 2, 7)] = 3


def test_a_revoke_commits_what_was_processed_on_the_revoked_partitions_only() -> None:
    consumer, client = offline_consumer(), RecordingClient()
    progress_on_partitions_0_to_2(consumer, client)
    revoked = [TopicPartition("order-events", 0), TopicPartition("order-events", 2)]
    consumer._on_revoke(client, revoked)  # type: ignore[arg-type]
    assert client.committed == [("order-events", 0, 10)]
    assert client.resumed == [("order-events", 2)]  # or it would come back paused
    assert consumer._progress.held_offset("order-events", 2) is None
    assert consumer._retries.attempts == {}  # its next owner starts the retries afresh
    remaining = consumer._progress.take_pending()
    assert [(tp.partition, tp.offset) for tp in remaining] == [(1, 5)]


def test_lost_partitions_commit_nothing_since_another_member_may_own_them() -> None:
    consumer, client = offline_consumer(), RecordingClient()
    progress_on_partitions_0_to_2(consumer, client)
    lost = [TopicPartition("order-events", p) for p in (0, 1, 2)]
    consumer._on_lost(client, lost)  # type: ignore[arg-type]
    assert client.committed == []
    assert client.resumed == [("order-events", 2)]
    assert consumer._progress.take_pending() == [] and consumer._retries.attempts == {}


class IdleClient(RecordingClient):
    """A client with nothing to fetch."""

    def poll(self, timeout: float) -> None:
        return None


def test_offsets_are_committed_on_an_interval_not_after_every_batch() -> None:
    consumer, client = offline_consumer(), IdleClient()
    consumer.commit_interval_s = 0.3
    consumer._progress.processed("order-events", 0, 1)
    consumer.poll_once(client)  # type: ignore[arg-type]
    assert client.committed == [("order-events", 0, 2)]

    consumer._progress.processed("order-events", 0, 5)
    consumer.poll_once(client)  # type: ignore[arg-type]
    assert client.committed == [("order-events", 0, 2)]  # within the interval: later

    time.sleep(0.35)
    consumer.poll_once(client)  # type: ignore[arg-type]
    assert client.committed == [("order-events", 0, 2), ("order-events", 0, 6)]
