"""How the event consumer joins its consumer group: the librdkafka settings it relies on."""

import os
import socket
from collections.abc import Mapping
from typing import Any

from shared_events.kafka.connection import KafkaTarget, client_config


def group_config(
    bootstrap_servers: KafkaTarget, group_id: str, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Consumer settings for manual, after-commit offsets (`overrides` win)."""
    return {
        **client_config(bootstrap_servers),
        "group.id": group_id,
        # Which process a member of the group is (the broker lists members by client id).
        "client.id": f"{group_id}@{socket.gethostname()}:{os.getpid()}",
        "enable.auto.commit": False,
        # We commit explicit offsets, and only of messages whose transaction committed.
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky",
        # A crashed member keeps its partitions until the broker stops hearing from it;
        # librdkafka's 45 s default stalled a restarted service for that long (chaos run).
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 2_000,
        **(overrides or {}),
    }
