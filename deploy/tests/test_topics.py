"""ensure_topics creates the saga's topics once, with their settings; later calls find them all."""

from __future__ import annotations

import os
import socket

import pytest
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from saga_infra.endpoints import Infra
from shared_events.kafka.provisioning import ensure_topics, main, provision_topics, saga_topics
from shared_events.topics import EVENT_TOPICS, PRODUCT_CATALOG


def test_saga_topics_are_event_topics_plus_one_dead_letter_topic_per_group() -> None:
    assert saga_topics() == [
        *EVENT_TOPICS,
        "order-service.dlq",
        "payment-service.dlq",
        "inventory-service.dlq",
    ]


def test_ensure_topics_is_idempotent(infra: Infra, capsys: pytest.CaptureFixture[str]) -> None:
    ensure_topics(infra.kafka_bootstrap, partitions=6)
    assert ensure_topics(infra.kafka_bootstrap, partitions=6) == []
    existing = AdminClient({"bootstrap.servers": infra.kafka_bootstrap}).list_topics(timeout=15)
    assert set(saga_topics()) <= set(existing.topics)

    assert main(["--bootstrap-servers", infra.kafka_bootstrap]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{name}: exists" for name in saga_topics()]


def test_topics_command_fails_fast_without_a_broker(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    code = main(["--bootstrap-servers", f"127.0.0.1:{closed_port}", "--timeout", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("error: Kafka at 127.0.0.1:")


def test_event_topics_have_the_configured_partitions(infra: Infra) -> None:
    ensure_topics(infra.kafka_bootstrap, partitions=6)
    metadata = AdminClient({"bootstrap.servers": infra.kafka_bootstrap}).list_topics(timeout=15)
    expected = int(os.environ.get("TOPIC_PARTITIONS", "6"))
    for name in EVENT_TOPICS:
        assert len(metadata.topics[name].partitions) == expected, name


def test_the_broker_never_creates_topics_on_its_own(infra: Infra) -> None:
    admin = AdminClient({"bootstrap.servers": infra.kafka_bootstrap})
    broker_id = next(iter(admin.list_topics(timeout=15).brokers))
    resource = ConfigResource(ResourceType.BROKER, str(broker_id))
    configs = admin.describe_configs([resource])[resource].result(timeout=15)
    assert configs["auto.create.topics.enable"].value == "false"


def _cleanup_policies(bootstrap: str, topics: list[str]) -> dict[str, str]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in topics]
    described = admin.describe_configs(resources)
    return {
        resource.name: future.result(timeout=15)["cleanup.policy"].value
        for resource, future in described.items()
    }


def test_the_catalog_topic_is_compacted_and_the_others_keep_deleting(infra: Infra) -> None:
    ensure_topics(infra.kafka_bootstrap, partitions=6)

    policies = _cleanup_policies(infra.kafka_bootstrap, saga_topics())

    assert policies[PRODUCT_CATALOG] == "compact"
    assert {policies[name] for name in saga_topics() if name != PRODUCT_CATALOG} == {"delete"}


def test_a_catalog_topic_made_without_compaction_is_given_it(
    infra: Infra, capsys: pytest.CaptureFixture[str]
) -> None:
    ensure_topics(infra.kafka_bootstrap, partitions=6)
    admin = AdminClient({"bootstrap.servers": infra.kafka_bootstrap})
    # As if someone had created it by hand, with the broker's default policy.
    resource = ConfigResource(
        ResourceType.TOPIC,
        PRODUCT_CATALOG,
        incremental_configs=[
            ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=15)
    assert _cleanup_policies(infra.kafka_bootstrap, [PRODUCT_CATALOG]) == {
        PRODUCT_CATALOG: "delete"
    }

    assert main(["--bootstrap-servers", infra.kafka_bootstrap]) == 0

    assert f"{PRODUCT_CATALOG}: exists, set cleanup.policy=compact" in capsys.readouterr().out
    assert _cleanup_policies(infra.kafka_bootstrap, [PRODUCT_CATALOG]) == {
        PRODUCT_CATALOG: "compact"
    }
    assert provision_topics(infra.kafka_bootstrap).reconfigured == []
