"""Create the saga's topics (event topics and dead-letter topics) if they are missing.

python -m shared_events.kafka.provisioning --bootstrap-servers 127.0.0.1:9092 --partitions 6

Each is created with the settings the saga relies on (`shared_events.topics.TOPIC_CONFIGS`:
`product-catalog` compacted); an existing topic that lacks one of them is altered to have it.

The connection's security comes from KAFKA_* variables (KAFKA_SECURITY_PROTOCOL, ...), or a
service's own with --env-prefix ORDER_ (ORDER_KAFKA_*).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

# From their modules: confluent_kafka.admin re-exports them implicitly, which mypy refuses.
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.admin._resource import ResourceType
from confluent_kafka.cimpl import NewTopic

from shared_events.kafka.connection import (
    KafkaSettingsError,
    KafkaTarget,
    add_connection_arguments,
    client_config,
    connection,
    connection_from_arguments,
)
from shared_events.topics import EVENT_TOPICS, dead_letter_topic, topic_config
from shared_events.topology import CONSUMER_GROUPS

DEFAULT_TIMEOUT_S = 15.0


class BrokerUnavailableError(RuntimeError):
    """The broker did not answer within the timeout."""


def saga_topics() -> list[str]:
    """Every topic the saga needs: the event topics, and one dead-letter topic per group."""
    return [*EVENT_TOPICS, *(dead_letter_topic(group) for group in CONSUMER_GROUPS)]


@dataclass(frozen=True, slots=True)
class TopicChanges:
    """What `provision_topics` changed: topics it created, existing ones it reconfigured."""

    created: list[str] = field(default_factory=list)
    reconfigured: list[str] = field(default_factory=list)


def ensure_topics(
    bootstrap_servers: KafkaTarget,
    partitions: int = 6,
    replication_factor: int = 1,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[str]:
    """Create the saga's missing topics; the names of those it created (existing ones are fine).

    Existing topics get the settings they must have (`provision_topics`).
    """
    return provision_topics(bootstrap_servers, partitions, replication_factor, timeout).created


def provision_topics(
    bootstrap_servers: KafkaTarget,
    partitions: int = 6,
    replication_factor: int = 1,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> TopicChanges:
    """Create the saga's missing topics with their settings, and set those of existing ones."""
    admin = AdminClient({**client_config(bootstrap_servers), "log_level": 0})
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        where = connection(bootstrap_servers).bootstrap_servers
        raise BrokerUnavailableError(
            f"Kafka at {where} did not answer within {timeout:.0f} s: {exc}"
        ) from exc
    missing = [name for name in saga_topics() if name not in existing]
    reconfigured = _set_configs(admin, [n for n in saga_topics() if n in existing], timeout)
    if not missing:
        return TopicChanges(reconfigured=reconfigured)
    futures = admin.create_topics(
        [
            NewTopic(name, partitions, replication_factor, config=dict(topic_config(name)))
            for name in missing
        ],
        request_timeout=timeout,
        operation_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            # Another process created it between our listing and our request.
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
        else:
            created.append(name)
    return TopicChanges([name for name in missing if name in created], reconfigured)


def _set_configs(admin: AdminClient, topics: Iterable[str], timeout: float) -> list[str]:
    """Give existing topics the settings they lack (e.g. a `product-catalog` made by hand)."""
    wanted = {name: topic_config(name) for name in topics if topic_config(name)}
    if not wanted:
        return []
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in wanted]
    described = admin.describe_configs(resources, request_timeout=timeout)
    changes = []
    for resource, future in described.items():
        current = future.result(timeout=timeout)
        differing = {
            key: value
            for key, value in wanted[resource.name].items()
            if key not in current or current[key].value != value
        }
        if differing:
            changes.append(
                ConfigResource(
                    ResourceType.TOPIC,
                    resource.name,
                    incremental_configs=[
                        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                        for key, value in differing.items()
                    ],
                )
            )
    if not changes:
        return []
    for future in admin.incremental_alter_configs(changes, request_timeout=timeout).values():
        future.result(timeout=timeout)
    return sorted(resource.name for resource in changes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared_events.kafka.provisioning",
        description="Create the saga's Kafka topics if missing (idempotent).",
    )
    add_connection_arguments(parser)
    parser.add_argument(
        "--partitions",
        type=int,
        default=int(os.environ.get("TOPIC_PARTITIONS", "6")),
        help="partitions of newly created topics; default: $TOPIC_PARTITIONS or 6",
    )
    parser.add_argument("--replication-factor", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds")
    args = parser.parse_args(argv)
    try:
        kafka = connection_from_arguments(args)
    except KafkaSettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        changes = provision_topics(kafka, args.partitions, args.replication_factor, args.timeout)
    except BrokerUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KafkaException as exc:
        print(f"error: creating topics failed: {exc}", file=sys.stderr)
        return 1
    for name in saga_topics():
        settings = ", ".join(f"{key}={value}" for key, value in topic_config(name).items())
        if name in changes.created:
            print(f"{name}: created" + (f" ({settings})" if settings else ""))
        elif name in changes.reconfigured:
            print(f"{name}: exists, set {settings}")
        else:
            print(f"{name}: exists")
    return 0


if __name__ == "__main__":
    sys.exit(main())
