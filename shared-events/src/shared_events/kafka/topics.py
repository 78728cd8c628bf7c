"""Create the saga's topics (event topics and dead-letter topics) if they are missing.

python -m shared_events.kafka.topics --bootstrap-servers 127.0.0.1:9092 --partitions 6

The connection's security comes from KAFKA_* variables (KAFKA_SECURITY_PROTOCOL, ...), or a
service's own with --env-prefix ORDER_ (ORDER_KAFKA_*).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from shared_events.kafka.connection import (
    KafkaSettingsError,
    KafkaTarget,
    add_connection_arguments,
    client_config,
    connection,
    connection_from_arguments,
)
from shared_events.topics import EVENT_TOPICS, dead_letter_topic

CONSUMER_GROUPS = ("order-service", "payment-service", "inventory-service")
DEFAULT_TIMEOUT_S = 15.0


class BrokerUnavailableError(RuntimeError):
    """The broker did not answer within the timeout."""


def saga_topics() -> list[str]:
    """Every topic the saga needs: one per bounded context, one dead-letter topic per group."""
    return [*EVENT_TOPICS, *(dead_letter_topic(group) for group in CONSUMER_GROUPS)]


def ensure_topics(
    bootstrap_servers: KafkaTarget,
    partitions: int = 6,
    replication_factor: int = 1,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[str]:
    """Create the saga's missing topics; the names of those it created (existing ones are fine)."""
    admin = AdminClient({**client_config(bootstrap_servers), "log_level": 0})
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        where = connection(bootstrap_servers).bootstrap_servers
        raise BrokerUnavailableError(
            f"Kafka at {where} did not answer within {timeout:.0f} s: {exc}"
        ) from exc
    missing = [name for name in saga_topics() if name not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(name, partitions, replication_factor) for name in missing],
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
    return [name for name in missing if name in created]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared_events.kafka.topics",
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
        created = ensure_topics(kafka, args.partitions, args.replication_factor, args.timeout)
    except BrokerUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KafkaException as exc:
        print(f"error: creating topics failed: {exc}", file=sys.stderr)
        return 1
    for name in saga_topics():
        print(f"{name}: {'created' if name in created else 'exists'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
