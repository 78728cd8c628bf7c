"""Per-partition progress: offsets to commit, and partitions held for a retry (no broker)."""

import time

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from shared_events.kafka.consuming.partitions import PartitionProgress


class FakeConsumer:
    """Records what progress tracking asks of the consumer."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.calls.append(("pause", [(tp.partition, tp.offset) for tp in partitions]))

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.calls.append(("resume", [(tp.partition, tp.offset) for tp in partitions]))

    def seek(self, partition: TopicPartition) -> None:
        self.calls.append(("seek", (partition.partition, partition.offset)))

    failing_commits = 0

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        assert not asynchronous
        self.calls.append(("commit", sorted((tp.partition, tp.offset) for tp in offsets)))
        if self.failing_commits:
            self.failing_commits -= 1
            raise KafkaException(KafkaError(KafkaError.REBALANCE_IN_PROGRESS))


def test_partition_progress_commits_the_offset_after_the_last_processed() -> None:
    progress, consumer = PartitionProgress(), FakeConsumer()
    progress.processed("t", 0, 4)
    progress.processed("t", 0, 7)
    progress.processed("t", 1, 0)
    progress.commit(consumer, [("t", 0)])
    progress.commit(consumer)
    progress.commit(consumer)  # nothing left: no empty commit
    assert consumer.calls == [("commit", [(0, 8)]), ("commit", [(1, 1)])]


def test_offsets_whose_commit_failed_are_committed_with_the_next_commit_unless_given_up() -> None:
    # Dropped, the last offsets of a partition would stay uncommitted until its next message.
    progress, consumer = PartitionProgress(), FakeConsumer()
    progress.processed("t", 0, 4)
    progress.processed("t", 1, 9)
    consumer.failing_commits = 1
    progress.commit(consumer)
    progress.processed("t", 0, 5)
    progress.commit(consumer)
    assert consumer.calls == [("commit", [(0, 5), (1, 10)]), ("commit", [(0, 6), (1, 10)])]

    progress.processed("t", 2, 0)
    consumer.failing_commits = 1
    progress.commit(consumer)
    progress.give_up(consumer, [("t", 2)])  # lost meanwhile: its new owner commits it
    progress.commit(consumer)
    assert consumer.calls[2:] == [("commit", [(2, 1)])]


def test_a_held_partition_is_paused_rewound_and_resumed_when_due() -> None:
    progress, consumer = PartitionProgress(), FakeConsumer()
    progress.hold(consumer, "t", 2, 10, delay_s=0.0)
    progress.hold(consumer, "t", 3, 20, delay_s=60.0)
    assert consumer.calls[:2] == [("pause", [(2, 10)]), ("seek", (2, 10))]
    time.sleep(0.01)
    consumer.calls.clear()
    progress.release_due(consumer, retry_s=1.0)
    assert consumer.calls == [("seek", (2, 10)), ("resume", [(2, 10)])]
    assert progress.held_offset("t", 2) is None
    assert progress.held_offset("t", 3) == 20
    progress.forget([("t", 3)])
    assert progress.held_offset("t", 3) is None


def test_partitions_held_for_the_database_are_due_at_once_when_it_is_back() -> None:
    # A 2 s database blip must not idle partitions for the 15 s their delays grew to.
    progress, consumer = PartitionProgress(), FakeConsumer()
    progress.hold(consumer, "t", 0, 5, delay_s=8.0, outage=True)
    progress.hold(consumer, "t", 1, 6, delay_s=15.0, outage=True)
    progress.hold(consumer, "t", 2, 7, delay_s=60.0)  # a handler retry keeps its backoff
    progress.hold(consumer, "t", 1, 6, delay_s=14.0)  # re-held: still waits for the database
    consumer.calls.clear()
    progress.release_due(consumer, retry_s=1.0)
    assert consumer.calls == []
    progress.end_outage()
    progress.release_due(consumer, retry_s=1.0)
    assert sorted(call for call in consumer.calls if call[0] == "resume") == [
        ("resume", [(0, 5)]),
        ("resume", [(1, 6)]),
    ]
    assert progress.held_offset("t", 2) == 7
    progress.hold(consumer, "t", 0, 9, delay_s=30.0)  # a later hold for another reason
    progress.end_outage()
    assert progress.held_offset("t", 0) == 9 and progress.remaining("t", 0) > 29


def test_a_held_partition_given_up_in_a_rebalance_is_resumed_so_it_does_not_return_paused() -> None:
    progress, consumer = PartitionProgress(), FakeConsumer()
    progress.hold(consumer, "t", 2, 10, delay_s=60.0)
    progress.processed("t", 3, 5)
    consumer.calls.clear()
    progress.give_up(consumer, [("t", 2), ("t", 3)])
    assert [(name, [p for p, _ in tps]) for name, tps in consumer.calls] == [("resume", [2])]
    assert progress.held_offset("t", 2) is None
    assert progress.take_pending() == []
