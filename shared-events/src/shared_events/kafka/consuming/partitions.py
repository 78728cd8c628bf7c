"""Per-partition progress of a consumer: offsets to commit, and partitions held for a retry."""

import time
from collections.abc import Iterable

import structlog
from confluent_kafka import Consumer, KafkaException, TopicPartition

log = structlog.get_logger(__name__)

PartitionId = tuple[str, int]


class PartitionProgress:
    """Tracks the next offset to commit per partition, and partitions waiting to retry."""

    def __init__(self) -> None:
        self._pending: dict[PartitionId, int] = {}
        self._holds: dict[PartitionId, tuple[int, float]] = {}
        self._outage_holds: set[PartitionId] = set()  # held until the database is back

    def processed(self, topic: str, partition: int, offset: int) -> None:
        """Record that every message up to `offset` is done; its successor is committed."""
        key = (topic, partition)
        self._pending[key] = max(self._pending.get(key, 0), offset + 1)

    def take_pending(self, only: Iterable[PartitionId] | None = None) -> list[TopicPartition]:
        """Offsets to commit (all, or for `only` these partitions), forgetting them."""
        keys = list(self._pending) if only is None else [k for k in only if k in self._pending]
        return [TopicPartition(t, p, self._pending.pop((t, p))) for t, p in keys]

    def commit(self, consumer: Consumer, only: Iterable[PartitionId] | None = None) -> None:
        """Synchronously commit the pending offsets (of `only` these partitions)."""
        offsets = self.take_pending(only)
        if not offsets:
            return
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:
            # Nothing is lost meanwhile (the events are recorded as processed, so whoever
            # re-reads them skips them), but offsets dropped here would stay uncommitted until
            # the partition's next message: kept, they are tried again with the next commit,
            # unless the partition leaves this consumer first.
            for tp in offsets:
                self.processed(tp.topic, tp.partition, tp.offset - 1)
            log.warning("offset commit failed, will retry", error=str(error))

    def hold(
        self,
        consumer: Consumer,
        topic: str,
        partition: int,
        offset: int,
        delay_s: float,
        *,
        outage: bool = False,
    ) -> None:
        """Pause a partition and rewind it to `offset`, to re-read it after `delay_s`.

        `outage`: it waits for the database; `end_outage` makes it due at once.
        """
        # Pause before seek (librdkafka may drop a seek done before a pause); nothing
        # after `offset` is processed, so nothing after it is committed, until it is.
        self._holds[(topic, partition)] = (offset, time.monotonic() + delay_s)
        if outage:
            self._outage_holds.add((topic, partition))
        tp = TopicPartition(topic, partition, offset)
        try:
            consumer.pause([tp])
            consumer.seek(tp)
        except KafkaException as error:
            # The hold stands regardless; releasing it seeks again before resuming.
            log.warning("could not rewind", topic=topic, partition=partition, error=str(error))

    def held_offset(self, topic: str, partition: int) -> int | None:
        """The offset a held partition will re-read, or None when it is not held."""
        hold = self._holds.get((topic, partition))
        return None if hold is None else hold[0]

    def remaining(self, topic: str, partition: int) -> float:
        """Seconds left on a partition's hold (0 when not held or already due)."""
        hold = self._holds.get((topic, partition))
        return 0.0 if hold is None else max(0.0, hold[1] - time.monotonic())

    def end_outage(self) -> None:
        """Make every partition held for the database due now (`release_due` resumes them)."""
        now = time.monotonic()
        for key in self._outage_holds:
            offset, deadline = self._holds[key]
            self._holds[key] = (offset, min(deadline, now))
        self._outage_holds.clear()

    def release_due(self, consumer: Consumer, retry_s: float) -> list[PartitionId]:
        """Rewind and resume the partitions whose hold has expired; return them."""
        now = time.monotonic()
        released: list[PartitionId] = []
        for key in [key for key, (_, deadline) in self._holds.items() if deadline <= now]:
            offset, _ = self._holds.pop(key)
            self._outage_holds.discard(key)
            tp = TopicPartition(key[0], key[1], offset)
            try:
                consumer.seek(tp)
                consumer.resume([tp])
            except KafkaException as error:
                log.warning("could not resume", topic=key[0], partition=key[1], error=str(error))
                self._holds[key] = (offset, now + retry_s)
                continue
            released.append(key)
        return released

    def give_up(self, consumer: Consumer, partitions: Iterable[PartitionId]) -> None:
        """Drop all state of partitions leaving this consumer, resuming the held ones first."""
        # librdkafka keeps a partition paused across a rebalance: one given up while held
        # would come back paused, with no hold left to resume it, and stall for good. While
        # the rebalance callback runs it is still assigned, so resuming it here takes effect.
        held = [TopicPartition(t, p) for t, p in partitions if (t, p) in self._holds]
        if held:
            try:
                consumer.resume(held)
                log.info("held partitions resumed as they leave", partitions=partition_names(held))
            except KafkaException as error:
                log.warning("could not resume a partition given up", error=str(error))
        self.forget(partitions)

    def forget(self, partitions: Iterable[PartitionId]) -> None:
        """Drop all state of partitions this consumer no longer owns."""
        for key in partitions:
            self._pending.pop(key, None)
            self._holds.pop(key, None)
            self._outage_holds.discard(key)


def partition_names(partitions: Iterable[TopicPartition]) -> list[str]:
    """Partitions as `topic[n]`, for logs."""
    return [f"{tp.topic}[{tp.partition}]" for tp in partitions]
