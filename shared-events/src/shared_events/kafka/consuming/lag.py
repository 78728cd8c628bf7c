"""A consumer group's lag and its dead-letter topic's depth, as the broker reports them.

Read from the broker (committed offsets against end offsets), not from the consumer itself:
the lag of a group whose consumer is stopped, stuck or elsewhere is exactly what must show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from confluent_kafka import Consumer, TopicPartition

from shared_events.kafka.connection import KafkaTarget, client_config

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
        bootstrap_servers: KafkaTarget,
        group: str,
        topics: Sequence[str],
        dead_letter_topic: str,
        timeout_s: float = 1.0,
    ) -> None:
        self.group = group
        self.topics = list(topics)
        self.dead_letter_topic = dead_letter_topic
        self.timeout_s = timeout_s
        # A consumer of the group that never subscribes: it reads the group's committed
        # offsets without joining it. (The AdminClient's list_consumer_group_offsets crashes
        # the process for a group that does not exist yet: confluent-kafka-python#1982.)
        self._config: dict[str, str | int | float | bool] = {
            **client_config(bootstrap_servers),
            "group.id": group,
            "enable.auto.commit": False,
            "log_level": 0,
        }
        self._reader: Consumer | None = None

    def sample(self) -> LagSample:
        """One reading (KafkaException when the broker does not answer in time)."""
        reader = self._reader = self._reader or Consumer(self._config)
        metadata = reader.list_topics(timeout=self.timeout_s)
        partitions = {
            name: sorted(metadata.topics[name].partitions)
            for name in [*self.topics, self.dead_letter_topic]
            if name in metadata.topics
        }
        consumed = [
            TopicPartition(name, p) for name in self.topics for p in partitions.get(name, [])
        ]
        committed = {
            (tp.topic, tp.partition): tp.offset
            for tp in (reader.committed(consumed, timeout=self.timeout_s) if consumed else [])
        }
        lag = {}
        for tp in consumed:
            low, high = self._watermarks(reader, tp)
            start = committed.get((tp.topic, tp.partition), _NO_OFFSET)
            lag[(tp.topic, tp.partition)] = max(0, high - (low if start < 0 else start))
        depth = 0
        for p in partitions.get(self.dead_letter_topic, []):
            low, high = self._watermarks(reader, TopicPartition(self.dead_letter_topic, p))
            depth += high - low
        return LagSample(lag, depth)

    def close(self) -> None:
        """Close the reader (a later sample makes a new one)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _watermarks(self, reader: Consumer, tp: TopicPartition) -> tuple[int, int]:
        low, high = reader.get_watermark_offsets(tp, timeout=self.timeout_s, cached=False)
        return int(low), int(high)
