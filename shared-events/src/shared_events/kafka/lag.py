"""A consumer group's lag and its dead-letter topic's depth, as the broker reports them.

Read from the broker (committed offsets against end offsets), not from the consumer itself:
the lag of a group whose consumer is stopped, stuck or elsewhere is exactly what must show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec

# librdkafka's "no committed offset" (OFFSET_INVALID): lag counts from the earliest offset,
# where a group with auto.offset.reset=earliest starts.
_NO_OFFSET = -1001


@dataclass(frozen=True)
class LagSample:
    """Per (topic, partition) lag of the group; records held in its dead-letter topic."""

    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    dead_letters: int = 0


class GroupLag:
    """Samples one group's lag on its topics and the depth of its dead-letter topic."""

    def __init__(
        self,
        bootstrap_servers: str,
        group: str,
        topics: Sequence[str],
        dead_letter_topic: str,
        timeout_s: float = 1.5,
    ) -> None:
        self.group = group
        self.topics = list(topics)
        self.dead_letter_topic = dead_letter_topic
        self.timeout_s = timeout_s
        self._config: dict[str, str | int | float | bool] = {
            "bootstrap.servers": bootstrap_servers,
            "log_level": 0,
        }
        self._admin: AdminClient | None = None

    def sample(self) -> LagSample:
        """One reading (KafkaException, or a timeout error, when the broker does not answer)."""
        admin = self._admin = self._admin or AdminClient(self._config)
        metadata = admin.list_topics(timeout=self.timeout_s)
        partitions = {
            name: sorted(metadata.topics[name].partitions)
            for name in [*self.topics, self.dead_letter_topic]
            if name in metadata.topics
        }
        consumed = [
            TopicPartition(name, p) for name in self.topics for p in partitions.get(name, [])
        ]
        dead = [
            TopicPartition(self.dead_letter_topic, p)
            for p in partitions.get(self.dead_letter_topic, [])
        ]
        newest: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        oldest: OffsetSpec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
        latest = self._offsets(admin, [*consumed, *dead], newest)
        earliest = self._offsets(admin, [*consumed, *dead], oldest)
        committed = self._committed(admin, consumed)
        lag = {}
        for tp in consumed:
            key = (tp.topic, tp.partition)
            start = committed.get(key, _NO_OFFSET)
            start = earliest[key] if start < 0 else start
            lag[key] = max(0, latest[key] - start)
        depth = sum(latest[key] - earliest[key] for key in ((t.topic, t.partition) for t in dead))
        return LagSample(lag, depth)

    def close(self) -> None:
        """Drop the admin client (a later sample makes a new one)."""
        self._admin = None

    def _offsets(
        self, admin: AdminClient, partitions: list[TopicPartition], spec: OffsetSpec
    ) -> dict[tuple[str, int], int]:
        if not partitions:
            return {}
        futures = admin.list_offsets(
            dict.fromkeys(partitions, spec), request_timeout=self.timeout_s
        )
        return {
            (tp.topic, tp.partition): future.result(self.timeout_s).offset
            for tp, future in futures.items()
        }

    def _committed(
        self, admin: AdminClient, partitions: list[TopicPartition]
    ) -> dict[tuple[str, int], int]:
        if not partitions:
            return {}
        request = ConsumerGroupTopicPartitions(self.group, partitions)
        futures = admin.list_consumer_group_offsets([request], request_timeout=self.timeout_s)
        result = futures[self.group].result(self.timeout_s)
        return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions}
