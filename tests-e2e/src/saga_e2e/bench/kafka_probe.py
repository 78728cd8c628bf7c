"""Kafka as the bench sees it: records written to the saga topics, and the groups' lag."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition

from saga_e2e.chaos.drain import LagProbe
from shared_events.topics import EVENT_TOPICS


class KafkaProbe:
    """End offsets of order-, payment- and inventory-events, and consumer lag (one client each)."""

    def __init__(self, bootstrap: str) -> None:
        config = {"bootstrap.servers": bootstrap, "group.id": "bench-probe", "log_level": 0}
        self._client = Consumer(config)  # never subscribes: it only reads watermarks
        self._lag = LagProbe(bootstrap)
        self._partitions: list[TopicPartition] | None = None

    def records(self) -> int:
        """Records ever written to the saga's event topics (high watermarks summed)."""
        if self._partitions is None:
            self._partitions = [
                TopicPartition(topic, p)
                for topic in EVENT_TOPICS
                for p in self._client.list_topics(topic, timeout=10).topics[topic].partitions
            ]
        return sum(self._client.get_watermark_offsets(tp, timeout=10)[1] for tp in self._partitions)

    def lag(self) -> int:
        """Messages the three consumer groups have not committed yet."""
        return self._lag.lag()

    def close(self) -> None:
        self._lag.close()
        self._client.close()
